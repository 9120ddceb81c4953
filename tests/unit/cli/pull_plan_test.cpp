// The pull planner on its own: the server's changes, base records and the working copy are
// written down here (FakeView), no disk and no server.

#include "cli/client/sync/pull_plan.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

namespace cairn::client {
namespace {

using protocol::Entry;
using protocol::NodeKind;

// The working copy as a table: what is at each path, which records still match, which files
// hold the server's bytes, and which paths cannot be written.
class FakeView final : public LocalView {
 public:
  std::map<std::string, LocalEntry> files;
  std::set<std::string> edited;  // unchanged_since is false for these.
  std::set<std::string> same_as_server;
  std::set<std::string> blocked;  // writable() refuses.
  int hashed = 0;

  Result<LocalEntry> stat(const std::string& rel) override {
    auto it = files.find(rel);
    if (it == files.end()) return make_error(ErrorCode::kNotFound, rel + ": not found");
    return it->second;
  }
  bool unchanged_since(const LocalEntry& now, const BaseRecord&) override {
    return edited.count(now.path) == 0;
  }
  Result<bool> same_content(const std::string& rel, const Entry&, Manifest&) override {
    ++hashed;
    return same_as_server.count(rel) != 0;
  }
  Result<void> writable(const std::string& rel) override {
    if (blocked.count(rel) != 0) return make_error(ErrorCode::kConflict, "a file is in the way");
    return {};
  }

  void put(const std::string& rel, NodeKind kind = NodeKind::kFile, uint64_t size = 3) {
    LocalEntry e;
    e.path = rel;
    e.kind = kind;
    e.size = size;
    files[rel] = e;
  }
};

// A manifest address named for the test ("m1", "m2"): the same name gives the same address.
Digest named(const std::string& name) { return sha256(as_bytes(name)); }

Entry entry(int64_t node, std::string path, NodeKind kind = NodeKind::kFile, int64_t version = 2,
            const std::string& manifest = "m2") {
  Entry e;
  e.node_id = node;
  e.path = std::move(path);
  e.kind = kind;
  e.version = version;
  if (kind == NodeKind::kFile) e.manifest = named(manifest);
  e.size = 3;
  return e;
}

BaseRecord record(std::string path, int64_t node, NodeKind kind = NodeKind::kFile,
                  const std::string& manifest = "m1") {
  BaseRecord b;
  b.path = std::move(path);
  b.node_id = node;
  b.kind = kind;
  b.version = 1;
  if (kind == NodeKind::kFile) b.manifest = named(manifest);
  b.size = 3;
  return b;
}

class PullPlanTest : public ::testing::Test {
 protected:
  PullPlanTest() { session_.remote_root = "/w"; }

  void add(Entry e) { changed_[e.node_id] = std::move(e); }
  void know(BaseRecord b) { base_[b.path] = std::move(b); }

  Departures departures(std::vector<std::string> detached = {}) {
    return plan_departures(session_, changed_, base_, std::move(detached), view_);
  }
  Arrivals arrivals(Departures d) {
    auto a = plan_arrivals(d, base_, view_);
    EXPECT_TRUE(a) << a.error().message();
    return a ? std::move(*a) : Arrivals{};
  }
  const ArrivalStep* step_for(const Arrivals& a, const std::string& rel) {
    for (const auto& s : a.steps) {
      if (s.rel == rel) return &s;
    }
    return nullptr;
  }

  Session session_;
  Changes changed_;
  std::map<std::string, BaseRecord> base_;
  FakeView view_;
};

TEST_F(PullPlanTest, ANewFileIsDownloadedAndANewFolderMade) {
  add(entry(1, "/w/a.txt"));
  add(entry(2, "/w/docs", NodeKind::kFolder));
  add(entry(3, "/elsewhere/x"));  // Outside this working copy: nothing.
  const auto d = departures();
  EXPECT_EQ(d.live.size(), 2u);
  const auto a = arrivals(d);
  ASSERT_EQ(a.steps.size(), 2u);
  const auto* file = step_for(a, "a.txt");
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(file->action, Arrival::kDownload);
  EXPECT_FALSE(file->replaces_unchanged);
  EXPECT_FALSE(file->set_aside_first);
  EXPECT_EQ(step_for(a, "docs")->action, Arrival::kFolder);
}

TEST_F(PullPlanTest, OurOwnVersionSeenAgainNeedsNothing) {
  BaseRecord b = record("a.txt", 1, NodeKind::kFile, "m2");
  b.version = 2;
  know(b);
  view_.put("a.txt");
  view_.edited.insert("a.txt");  // Even edited here since: that is the next push's business.
  add(entry(1, "/w/a.txt"));
  const auto a = arrivals(departures());
  EXPECT_TRUE(a.steps.empty());
  EXPECT_TRUE(a.conflicts.empty());
}

TEST_F(PullPlanTest, AnUnchangedFileIsReplacedAndAModeOnlyChangeFetchesNothing) {
  know(record("a.txt", 1));
  view_.put("a.txt");
  add(entry(1, "/w/a.txt"));  // New bytes.
  know(record("b.txt", 2, NodeKind::kFile, "same"));
  view_.put("b.txt");
  add(entry(2, "/w/b.txt", NodeKind::kFile, 2, "same"));  // Same bytes, new version: a chmod.
  const auto a = arrivals(departures());
  const auto* replaced = step_for(a, "a.txt");
  ASSERT_NE(replaced, nullptr);
  EXPECT_EQ(replaced->action, Arrival::kDownload);
  EXPECT_TRUE(replaced->replaces_unchanged);
  ASSERT_NE(replaced->local, nullptr);
  EXPECT_EQ(step_for(a, "b.txt")->action, Arrival::kModeOnly);
  EXPECT_EQ(view_.hashed, 0);
}

TEST_F(PullPlanTest, EditedOnBothSidesIsAConflictUnlessTheBytesAgree) {
  know(record("a.txt", 1));
  view_.put("a.txt");
  view_.edited.insert("a.txt");
  add(entry(1, "/w/a.txt"));
  know(record("b.txt", 2));
  view_.put("b.txt");
  view_.edited.insert("b.txt");
  view_.same_as_server.insert("b.txt");
  add(entry(2, "/w/b.txt"));
  view_.put("new-here.txt");  // Made here and there, unknown to the base.
  add(entry(3, "/w/new-here.txt"));
  const auto a = arrivals(departures());
  const auto* both = step_for(a, "a.txt");
  ASSERT_NE(both, nullptr);
  EXPECT_EQ(both->action, Arrival::kDownload);
  EXPECT_TRUE(both->set_aside_first);
  EXPECT_TRUE(both->had_base);
  EXPECT_FALSE(both->replaces_unchanged);
  EXPECT_EQ(step_for(a, "b.txt")->action, Arrival::kAdopt);
  const auto* fresh = step_for(a, "new-here.txt");
  ASSERT_NE(fresh, nullptr);
  EXPECT_TRUE(fresh->set_aside_first);
  EXPECT_FALSE(fresh->had_base);
  EXPECT_TRUE(a.arriving.contains("new-here.txt"));
  EXPECT_TRUE(a.arriving.contains("a.txt"));
  EXPECT_FALSE(a.arriving.contains("new-here.txt (conflicted copy)"));
}

// Membership by hash: every path put in is found, and paths that differ by a byte are not.
TEST(PathHashesTest, FindsWhatWasPutInAndNothingElse) {
  std::vector<uint64_t> hashes;
  for (int i = 0; i < 1000; ++i) hashes.push_back(PathHashes::of("dir/file" + std::to_string(i)));
  const PathHashes set(std::move(hashes));
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(set.contains("dir/file" + std::to_string(i)));
  EXPECT_FALSE(set.contains("dir/file1000"));
  EXPECT_FALSE(set.contains("dir/File1"));
  EXPECT_FALSE(set.contains(""));
  EXPECT_FALSE(PathHashes().contains("dir/file1"));
}

TEST_F(PullPlanTest, AFolderWhereAFileIsHereIsAConflictAndABlockedPathAnError) {
  view_.put("thing");
  add(entry(1, "/w/thing", NodeKind::kFolder));
  view_.blocked.insert("link/inside");
  add(entry(2, "/w/link/inside"));
  const auto a = arrivals(departures());
  EXPECT_TRUE(a.steps.empty());
  ASSERT_EQ(a.conflicts.size(), 1u);
  EXPECT_NE(a.conflicts[0].find("thing: a folder on the server, a file here"), std::string::npos);
  ASSERT_EQ(a.errors.size(), 1u);
  EXPECT_NE(a.errors[0].find("link/inside: a file is in the way"), std::string::npos);
}

TEST_F(PullPlanTest, DeletedThereGoesToTheTrashUnlessEditedHere) {
  know(record("a.txt", 1));
  view_.put("a.txt");
  Entry gone = entry(1, "/w/a.txt");
  gone.deleted = true;
  add(gone);
  know(record("b.txt", 2));
  view_.put("b.txt");
  view_.edited.insert("b.txt");
  Entry gone_too = entry(2, "/w/b.txt");
  gone_too.deleted = true;
  add(gone_too);
  know(record("c.txt", 3));  // Already deleted here.
  Entry gone_three = entry(3, "/w/c.txt");
  gone_three.deleted = true;
  add(gone_three);
  const auto d = departures();
  ASSERT_EQ(d.to_trash.size(), 1u);
  EXPECT_EQ(d.to_trash[0]->path, "a.txt");
  EXPECT_EQ(d.forget, (std::vector<std::string>{"b.txt", "c.txt"}));
  ASSERT_EQ(d.skipped.size(), 1u);
  EXPECT_NE(d.skipped[0].find("b.txt: deleted on the server but edited here"), std::string::npos);
  EXPECT_TRUE(d.live.empty());
  EXPECT_FALSE(d.make_room);
}

TEST_F(PullPlanTest, AFolderMovedOutTakesItsSubtreeButNotWhatTheFeedPlacesElsewhere) {
  know(record("docs", 1, NodeKind::kFolder));
  know(record("docs/a", 2));
  know(record("docs/b", 3));
  view_.put("docs", NodeKind::kFolder);
  view_.put("docs/a");
  view_.put("docs/b");
  add(entry(1, "/outside/docs", NodeKind::kFolder));  // Moved out of the working copy...
  add(entry(3, "/w/docs/b"));  // ...but b stays, in a new folder of the same name.
  const auto d = departures();
  std::set<std::string> trashed;
  for (const auto* b : d.to_trash) trashed.insert(b->path);
  EXPECT_EQ(trashed, (std::set<std::string>{"docs", "docs/a"}));
  ASSERT_EQ(d.live.size(), 1u);
  EXPECT_EQ(d.live[0].first, "docs/b");
  EXPECT_TRUE(d.make_room);  // docs/b arrives inside the departing docs.
}

TEST_F(PullPlanTest, AFileBecomingAFolderMakesRoomFirst) {
  know(record("x", 1));
  view_.put("x");
  Entry gone = entry(1, "/w/x");
  gone.deleted = true;
  add(gone);
  add(entry(2, "/w/x", NodeKind::kFolder));
  const auto d = departures();
  EXPECT_TRUE(d.make_room);
  ASSERT_EQ(d.to_trash.size(), 1u);
}

TEST_F(PullPlanTest, AnEndedShareIsDetachedAndAGivenBackOneSyncedAgain) {
  know(record("team", 1, NodeKind::kFolder));
  know(record("team/a", 2));
  Entry ended = entry(1, "/w/team", NodeKind::kFolder);
  ended.deleted = true;
  ended.change = "unshare";
  add(ended);
  auto d = departures();
  EXPECT_EQ(d.shares_ended, (std::vector<std::string>{"team"}));
  EXPECT_EQ(d.detached, (std::vector<std::string>{"team"}));
  EXPECT_TRUE(d.detached_changed);
  EXPECT_EQ(d.forget, (std::vector<std::string>{"team", "team/a"}));
  EXPECT_TRUE(d.to_trash.empty());  // The local copy stays, as the user's own files.

  // Shared again: what arrives at a detached path makes it synced again.
  changed_.clear();
  base_.clear();
  add(entry(5, "/w/team/a"));
  d = departures({"team", "other"});
  EXPECT_EQ(d.detached, (std::vector<std::string>{"other"}));
  EXPECT_TRUE(d.detached_changed);
}

TEST_F(PullPlanTest, AFailureToLearnTheChunkingStopsThePlan) {
  class Offline final : public LocalView {
   public:
    Result<LocalEntry> stat(const std::string& rel) override {
      LocalEntry e;
      e.path = rel;
      e.size = 3;
      return e;
    }
    bool unchanged_since(const LocalEntry&, const BaseRecord&) override { return false; }
    Result<bool> same_content(const std::string&, const Entry&, Manifest&) override {
      return make_error(ErrorCode::kUnavailable, "server unreachable");
    }
    Result<void> writable(const std::string&) override { return {}; }
  } offline;
  know(record("a.txt", 1));
  add(entry(1, "/w/a.txt"));
  auto d = plan_departures(session_, changed_, base_, {}, offline);
  auto a = plan_arrivals(d, base_, offline);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code(), ErrorCode::kUnavailable);
}

// The server's tree as a table: pages of the feed, and folder listings.
class FakeServer final : public RemoteTree {
 public:
  std::vector<std::vector<Entry>> pages;
  std::map<std::string, std::vector<Entry>> folders;
  std::vector<std::string> asked;  // Cursors and listed paths, in order.

  Result<protocol::ListResponse> list(const std::string& path) override {
    asked.push_back("list " + path);
    auto it = folders.find(path);
    if (it == folders.end()) return make_error(ErrorCode::kNotFound, path + ": not found");
    protocol::ListResponse r;
    r.entries = it->second;
    return r;
  }
  Result<protocol::ChangesResponse> changes(const std::string& cursor, int) override {
    asked.push_back("changes " + cursor);
    const size_t page = cursor.empty() ? 0 : std::stoul(cursor);
    protocol::ChangesResponse r;
    if (page < pages.size()) r.changes = pages[page];
    r.cursor = std::to_string(page + 1);
    r.has_more = page + 1 < pages.size();
    return r;
  }
};

TEST_F(PullPlanTest, TheFeedIsReadToItsEndWithTheLatestStateOfEachNode) {
  FakeServer server;
  Entry first = entry(1, "/w/a");
  Entry renamed = entry(1, "/w/b");
  server.pages = {{first, entry(2, "/w/c")}, {renamed}};
  auto cursor = read_feed(server, "", changed_);
  ASSERT_TRUE(cursor);
  EXPECT_EQ(*cursor, "2");
  EXPECT_EQ(server.asked, (std::vector<std::string>{"changes ", "changes 1"}));
  ASSERT_EQ(changed_.size(), 2u);
  EXPECT_EQ(changed_.at(1).path, "/w/b");
}

TEST_F(PullPlanTest, AFolderMovedInFromOutsideIsListedWhole) {
  FakeServer server;
  Entry moved_in = entry(7, "/w/incoming", NodeKind::kFolder);
  moved_in.change = "move";
  add(moved_in);
  Entry known_move = entry(8, "/w/known", NodeKind::kFolder);
  known_move.change = "move";
  add(known_move);
  know(record("old-known", 8, NodeKind::kFolder));  // Already here: apply_moves moves it.
  server.folders["/w/incoming"] = {entry(9, "/w/incoming/sub", NodeKind::kFolder),
                                   entry(10, "/w/incoming/f")};
  server.folders["/w/incoming/sub"] = {entry(11, "/w/incoming/sub/g")};
  ASSERT_TRUE(list_moved_in(server, session_, base_, changed_));
  EXPECT_EQ(server.asked, (std::vector<std::string>{"list /w/incoming", "list /w/incoming/sub"}));
  EXPECT_EQ(changed_.count(10), 1u);
  EXPECT_EQ(changed_.count(11), 1u);
  // A listing that fails stops the pull, which then keeps its cursor.
  server.folders.erase("/w/incoming/sub");
  changed_.erase(11);
  EXPECT_FALSE(list_moved_in(server, session_, base_, changed_));
}

}  // namespace
}  // namespace cairn::client
