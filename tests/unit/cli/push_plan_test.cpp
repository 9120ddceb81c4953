// The push planner on its own: scans, base records and fingerprints written down here, no disk
// and no server.

#include "cli/client/sync/push_plan.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace cairn::client {
namespace {

using protocol::NodeKind;

LocalEntry file(std::string path, uint64_t size, uint64_t inode, int64_t mtime = 100) {
  LocalEntry e;
  e.path = std::move(path);
  e.kind = NodeKind::kFile;
  e.size = size;
  e.inode = inode;
  e.mtime_ns = mtime;
  e.mode = 0644;
  return e;
}

LocalEntry folder(std::string path, uint64_t inode) {
  LocalEntry e;
  e.path = std::move(path);
  e.kind = NodeKind::kFolder;
  e.inode = inode;
  e.mode = 0755;
  return e;
}

// The record of `e` as last synced, node `node`, version 1, fingerprint `xxh3`.
BaseRecord synced(const LocalEntry& e, int64_t node, uint64_t xxh3 = 0) {
  BaseRecord b = base_from_stat(e, 1, node);
  b.path = e.path;
  b.kind = e.kind;
  b.xxh3 = xxh3;
  return b;
}

struct World {
  ScanResult scan;
  std::map<std::string, BaseRecord> base;
  std::map<std::string, uint64_t> fingerprints;  // What the files hold now.
  int fingerprint_reads = 0;

  Fingerprint fingerprint() {
    return [this](const std::string& rel) -> std::optional<uint64_t> {
      ++fingerprint_reads;
      auto it = fingerprints.find(rel);
      if (it == fingerprints.end()) return std::nullopt;
      return it->second;
    };
  }
  void here(LocalEntry e) { scan.entries.push_back(std::move(e)); }
  void was(const LocalEntry& e, int64_t node, uint64_t xxh3 = 0) {
    base[e.path] = synced(e, node, xxh3);
  }
};

TEST(PushPlanTest, UnchangedTreeNeedsNothingAndReadsNothing) {
  World w;
  for (int i = 0; i < 5; ++i) {
    auto e = file("f" + std::to_string(i), 10, 100 + i);
    w.was(e, i + 1, 7);
    w.here(e);
  }
  auto moves = find_local_moves(w.scan, w.base, w.fingerprint());
  EXPECT_TRUE(moves.empty());
  const PushPlan plan = plan_push(w.scan, w.base, {}, {}, w.fingerprint());
  EXPECT_TRUE(plan.candidates.empty());
  EXPECT_TRUE(plan.deletions.empty());
  EXPECT_TRUE(plan.new_folders.empty());
  EXPECT_EQ(plan.files_scanned, 5u);
  EXPECT_EQ(w.fingerprint_reads, 0);
}

TEST(PushPlanTest, ARenameIsFoundByInodeAndStat) {
  World w;
  auto old = file("a.txt", 10, 42);
  w.was(old, 7, 99);
  w.here(file("b.txt", 10, 42));
  auto moves = find_local_moves(w.scan, w.base, w.fingerprint());
  ASSERT_EQ(moves.size(), 1u);
  EXPECT_EQ(moves[0].from, "a.txt");
  EXPECT_EQ(moves[0].to, "b.txt");
  EXPECT_EQ(moves[0].node_id, 7);
  EXPECT_FALSE(moves[0].folder);
  EXPECT_EQ(w.base.count("a.txt"), 0u);
  EXPECT_EQ(w.base.at("b.txt").node_id, 7);
}

TEST(PushPlanTest, ACopyAndDeleteIsAMoveByContentButAnInodeAloneIsNot) {
  World w;
  w.was(file("a.txt", 10, 42), 7, 99);
  // The same inode (reused), other size: not the same file.
  w.here(file("reused.txt", 11, 42));
  // Another inode, same size and fingerprint: the bytes moved.
  w.here(file("copy.txt", 10, 43));
  w.fingerprints["copy.txt"] = 99;
  w.fingerprints["reused.txt"] = 5;
  auto moves = find_local_moves(w.scan, w.base, w.fingerprint());
  ASSERT_EQ(moves.size(), 1u);
  EXPECT_EQ(moves[0].to, "copy.txt");
}

TEST(PushPlanTest, AFolderMoveCarriesItsSubtreeWhenAFileInsideWitnessesIt) {
  World w;
  w.was(folder("docs", 1), 10);
  w.was(file("docs/a", 5, 2), 11);
  w.here(folder("papers", 1));
  w.here(file("papers/a", 5, 2));
  auto moves = find_local_moves(w.scan, w.base, w.fingerprint());
  ASSERT_EQ(moves.size(), 1u);
  EXPECT_TRUE(moves[0].folder);
  EXPECT_EQ(moves[0].from, "docs");
  EXPECT_EQ(moves[0].to, "papers");
  EXPECT_EQ(w.base.at("papers/a").node_id, 11);

  // The same folder inode holding other files: a new folder, not a move.
  World v;
  v.was(folder("docs", 1), 10);
  v.was(file("docs/a", 5, 2), 11);
  v.here(folder("papers", 1));
  v.here(file("papers/b", 5, 3));
  EXPECT_TRUE(find_local_moves(v.scan, v.base, v.fingerprint()).empty());
}

TEST(PushPlanTest, HardLinksAreNeverMatched) {
  World w;
  w.was(file("a", 10, 42), 7);
  w.here(file("b", 10, 42));
  w.here(file("c", 10, 42));
  EXPECT_TRUE(find_local_moves(w.scan, w.base, w.fingerprint()).empty());
}

TEST(PushPlanTest, MassDeleteGuardCountsFilesOnlyAndHonoursTheFlag) {
  World w;
  for (int i = 0; i < 4; ++i) w.was(file("f" + std::to_string(i), 1, 10 + i), i + 1);
  w.was(folder("d", 50), 99);
  w.here(file("f0", 1, 10));
  w.here(file("f1", 1, 11));
  // Two of four files gone: not more than half.
  EXPECT_TRUE(guard_mass_delete(w.scan, w.base, 1000, false));
  w.scan.entries.pop_back();
  // Three of four: refused, and the message says how many.
  auto refused = guard_mass_delete(w.scan, w.base, 1000, false);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(refused.error().message().find("delete 3 of 4"), std::string::npos);
  EXPECT_TRUE(guard_mass_delete(w.scan, w.base, 1000, true));
  // One file of one: always allowed (a single delete is no accident of scale).
  World one;
  one.was(file("only", 1, 1), 1);
  EXPECT_TRUE(guard_mass_delete(one.scan, one.base, 1000, false));
  // Over the absolute limit even when under half.
  EXPECT_FALSE(guard_mass_delete(w.scan, w.base, 2, false));
}

TEST(PushPlanTest, ClassifiesNewChangedDeletedAndFolders) {
  World w;
  auto kept = file("kept", 10, 1);
  w.was(kept, 1);
  w.here(kept);
  auto edited = file("edited", 10, 2);
  w.was(edited, 2);
  w.here(file("edited", 12, 2, 200));
  w.was(file("gone", 4, 3), 3);
  w.was(folder("old", 4), 4);
  w.was(file("old/x", 1, 5), 5);
  w.here(file("new", 30, 6));
  w.here(folder("fresh", 7));
  const PushPlan plan = plan_push(w.scan, w.base, {}, {}, w.fingerprint());
  ASSERT_EQ(plan.candidates.size(), 2u);
  EXPECT_EQ(plan.candidates[0].entry->path, "edited");
  ASSERT_NE(plan.candidates[0].base, nullptr);
  EXPECT_EQ(plan.candidates[1].entry->path, "new");
  EXPECT_EQ(plan.candidates[1].base, nullptr);
  ASSERT_EQ(plan.new_folders.size(), 1u);
  EXPECT_EQ(plan.new_folders[0]->path, "fresh");
  // Deepest first: a folder goes after what was in it.
  ASSERT_EQ(plan.deletions.size(), 3u);
  EXPECT_EQ(plan.deletions[0]->path, "old/x");
  EXPECT_EQ(plan.deletions[1]->path, "old");
  EXPECT_EQ(plan.deletions[2]->path, "gone");
  EXPECT_EQ(plan.quota_growth, 2u + 30u);
  EXPECT_TRUE(plan.delete_first.empty());
}

// The plan walks the scan and the base side by side in bytewise path order, where "a.txt" falls
// between the folder "a" and what is inside it; a scan handed over out of order is sorted first.
TEST(PushPlanTest, ScanAndBaseAreMatchedPathByPathInBytewiseOrder) {
  World w;
  const std::vector<LocalEntry> all = {folder("a", 1), file("a.txt", 2, 2), file("a/b", 3, 3),
                                       file("a0", 4, 4), file("b", 5, 5)};
  for (const auto& e : all) w.was(e, static_cast<int64_t>(e.inode));
  for (auto it = all.rbegin(); it != all.rend(); ++it) w.here(*it);
  EXPECT_TRUE(same_paths(w.scan, w.base));
  PushPlan plan = plan_push(w.scan, w.base, {}, {}, w.fingerprint());
  EXPECT_TRUE(plan.candidates.empty());
  EXPECT_TRUE(plan.deletions.empty());
  EXPECT_EQ(plan.files_scanned, 4u);

  // "a.txt" and "b" gone, "a/c" and "a.md" new: the same count of paths, not the same paths.
  w.scan.entries.clear();
  for (const auto& e : {file("a/c", 6, 6), folder("a", 1), file("a0", 4, 4), file("a/b", 3, 3),
                        file("a.md", 7, 7)}) {
    w.here(e);
  }
  w.base.erase("a0");
  w.was(file("a00", 8, 8), 8);
  EXPECT_FALSE(same_paths(w.scan, w.base));
  plan = plan_push(w.scan, w.base, {}, {}, w.fingerprint());
  ASSERT_EQ(plan.candidates.size(), 3u);
  EXPECT_EQ(plan.candidates[0].entry->path, "a.md");
  EXPECT_EQ(plan.candidates[1].entry->path, "a/c");
  EXPECT_EQ(plan.candidates[2].entry->path, "a0");
  ASSERT_EQ(plan.deletions.size(), 3u);
  EXPECT_EQ(plan.deletions[0]->path, "b");
  EXPECT_EQ(plan.deletions[1]->path, "a00");
  EXPECT_EQ(plan.deletions[2]->path, "a.txt");
  // The guard counts the same three of the four files.
  auto refused = guard_mass_delete(w.scan, w.base, 2, false);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("delete 3 of 4"), std::string::npos);
}

TEST(PushPlanTest, AFolderThatBecameAFileIsDeletedFirstWithWhatItHeld) {
  World w;
  w.was(folder("thing", 1), 1);
  w.was(file("thing/inside", 1, 2), 2);
  w.was(file("other", 1, 3), 3);
  w.here(file("thing", 5, 9));
  const PushPlan plan = plan_push(w.scan, w.base, {}, {}, w.fingerprint());
  ASSERT_EQ(plan.delete_first.size(), 2u);
  EXPECT_EQ(plan.delete_first[0]->path, "thing/inside");
  EXPECT_EQ(plan.delete_first[1]->path, "thing");
  ASSERT_EQ(plan.deletions.size(), 1u);
  EXPECT_EQ(plan.deletions[0]->path, "other");
  ASSERT_EQ(plan.candidates.size(), 1u);
  EXPECT_EQ(plan.candidates[0].entry->path, "thing");
}

TEST(PushPlanTest, UnsettledFilesWaitForTheNextPush) {
  World w;
  const int64_t now = 1'000'000'000'000;
  w.here(file("hot", 1, 1, now - 100'000));           // 0.1 ms ago
  w.here(file("cold", 1, 2, now - 5'000'000'000LL));  // 5 s ago
  const PushPlan plan = plan_push(w.scan, w.base, {}, {now, 2000}, w.fingerprint());
  ASSERT_EQ(plan.candidates.size(), 1u);
  EXPECT_EQ(plan.candidates[0].entry->path, "cold");
  EXPECT_EQ(plan.files_deferred, 1u);
  ASSERT_EQ(plan.skipped.size(), 1u);
  EXPECT_NE(plan.skipped[0].find("hot: modified less than 2000 ms ago"), std::string::npos);
  // Without a settle time everything goes.
  EXPECT_EQ(plan_push(w.scan, w.base, {}, {now, 0}, w.fingerprint()).candidates.size(), 2u);
}

TEST(PushPlanTest, ReadOnlySharedFoldersKeepChangesHereButNotTouches) {
  World w;
  SharedAreas shared;
  shared.add("team", true, "bob shares /team with you as a viewer");
  shared.add("mine-too", false);
  w.was(folder("team", 1), 1);
  w.was(file("team/touched", 10, 2), 2, 77);
  w.was(file("team/edited", 10, 3), 3, 78);
  w.was(file("team/deleted", 10, 4), 4);
  w.here(folder("team", 1));
  w.here(file("team/touched", 10, 2, 999));  // New mtime, same bytes.
  w.fingerprints["team/touched"] = 77;
  w.here(file("team/edited", 10, 3, 999));
  w.fingerprints["team/edited"] = 1;
  w.here(file("mine-too/big", 1000, 5));
  const PushPlan plan = plan_push(w.scan, w.base, shared, {}, w.fingerprint());
  ASSERT_EQ(plan.refreshed.size(), 1u);
  EXPECT_EQ(plan.refreshed[0].path, "team/touched");
  EXPECT_EQ(plan.refreshed[0].inode, 2u);
  EXPECT_EQ(plan.changes_unsent, 2u);  // The edit and the delete.
  ASSERT_EQ(plan.skipped.size(), 2u);
  EXPECT_NE(plan.skipped[0].find("team/edited: not pushed: bob shares"), std::string::npos);
  EXPECT_NE(plan.skipped[1].find("team/deleted (deleted here)"), std::string::npos);
  EXPECT_TRUE(plan.deletions.empty());
  // A file in a folder shared with us (as an editor) counts against its owner, not us.
  ASSERT_EQ(plan.candidates.size(), 1u);
  EXPECT_EQ(plan.quota_growth, 0u);
}

TEST(PushPlanTest, AViewerMayMoveTheMountButNothingInOrOut) {
  SharedAreas shared;
  shared.add("team", true, "viewer");
  std::vector<LocalMove> moves = {{"team", "renamed-team", 1, true},
                                  {"team/a", "a", 2, false},
                                  {"b", "team/b", 3, false},
                                  {"c", "d", 4, false}};
  drop_refused_moves(moves, shared);
  ASSERT_EQ(moves.size(), 2u);
  EXPECT_EQ(moves[0].to, "renamed-team");
  EXPECT_EQ(moves[1].to, "d");
  // Once the move is made, the read-only area is at its new place.
  shared.moved("team", "renamed-team");
  EXPECT_NE(shared.refused_at("renamed-team/x"), nullptr);
  EXPECT_EQ(shared.refused_at("team/x"), nullptr);
  EXPECT_TRUE(shared.is_mount("renamed-team"));
}

}  // namespace
}  // namespace cairn::client
