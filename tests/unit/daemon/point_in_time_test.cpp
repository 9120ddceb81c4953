// The tree as it was, on every metadata backend: listings at a past time (`--at`), a folder
// brought back to one in one step (`restore --at`), and the log of changes (`cairn log`).

#include <gtest/gtest.h>

#include <map>

#include "common/paths.h"
#include "tests/unit/daemon/metadata_store_fixture.h"

namespace cairn::store::conformance {
namespace {

constexpr int64_t kStart = 1'800'000'000;  // The fixture's clock, in seconds.

class PointInTimeTest : public MetadataStoreTest {
 protected:
  // Moves the clock (and the fixture's requests) to kStart + `seconds`.
  void at(int64_t seconds) {
    clock_.now = kStart + seconds;
    ctx_.now = clock_.now;
    ctx_.now_ms = clock_.now * 1000;
  }
  static int64_t ms(int64_t seconds) { return (kStart + seconds) * 1000; }

  using Tree = std::map<std::string, std::string>;
  // Path -> what it held then: "dir" for a folder, else its version and its content's manifest.
  Tree then(const std::string& path, int64_t at_ms, bool recursive = true) {
    auto l = services_->files().list(ctx_, path, recursive, at_ms);
    EXPECT_TRUE(l.has_value()) << path << ": " << l.error().message();
    return l ? tree_of(*l) : Tree{};
  }
  // The same for the tree as it is now.
  Tree now(const std::string& path) {
    auto l = services_->files().list(ctx_, path, true);
    EXPECT_TRUE(l.has_value()) << path;
    return l ? tree_of(*l) : Tree{};
  }
  static Tree tree_of(const protocol::ListResponse& l) {
    Tree out;
    for (const auto& e : l.entries) {
      out[e.path] = e.kind == NodeKind::kFolder
                        ? "dir"
                        : "v" + std::to_string(e.version) + " " +
                              (e.manifest ? e.manifest->hex() : std::string());
    }
    return out;
  }
  // Versions aside: what a restore must bring back is the content.
  static Tree contents(const Tree& t) {
    Tree out;
    for (const auto& [path, what] : t)
      out[path] = what == "dir" ? what : what.substr(what.find(' '));
    return out;
  }
  protocol::CommitResult commit_one(CommitOp o) {
    auto r = services_->files().commit(ctx_, {"laptop", {std::move(o)}});
    EXPECT_TRUE(r.has_value()) << r.error().message();
    return r ? r->results.at(0) : protocol::CommitResult{};
  }

  // t=0: /d with a.txt, b.txt and sub/c.txt. t=100: a.txt edited, b.txt deleted, sub renamed to
  // sub2, new.txt added. t=200: /d renamed to /e. first_ and second_: /d after t=0 and t=100.
  void history_of_d() {
    at(0);
    ASSERT_EQ(put_file("/d/a.txt", "a1", std::nullopt).status, OpStatus::kOk);
    ASSERT_EQ(put_file("/d/b.txt", "b1", std::nullopt).status, OpStatus::kOk);
    ASSERT_EQ(put_file("/d/sub/c.txt", "c1", std::nullopt).status, OpStatus::kOk);
    first_ = now("/d");
    at(100);
    ASSERT_EQ(put_file("/d/a.txt", "a2", 1).status, OpStatus::kOk);
    ASSERT_EQ(op(OpKind::kDelete, "/d/b.txt").status, OpStatus::kOk);
    ASSERT_EQ(commit_one(CommitOp::move("/d/sub", "/d/sub2")).status, OpStatus::kOk);
    ASSERT_EQ(put_file("/d/new.txt", "n", std::nullopt).status, OpStatus::kOk);
    second_ = now("/d");
    at(200);
    ASSERT_EQ(commit_one(CommitOp::move("/d", "/e")).status, OpStatus::kOk);
    at(300);
  }
  Tree first_;
  Tree second_;
};

TEST_P(PointInTimeTest, AFolderIsListedAsItWasAtAnyTime) {
  ASSERT_NO_FATAL_FAILURE(history_of_d());
  ASSERT_EQ(first_.size(), 4u);
  ASSERT_EQ(second_.size(), 4u);
  // Between the two: the first state, deleted file and old names included.
  EXPECT_EQ(then("/d", ms(50)), first_);
  EXPECT_EQ(then("/d", ms(100) - 1), first_);
  // The changes of t=100 were made in its first millisecond (the fixture's clock).
  EXPECT_EQ(then("/d", ms(100)), second_);
  EXPECT_EQ(then("/d", ms(199)), second_);
  // Not recursive: the children alone. A file: itself.
  EXPECT_EQ(then("/d", ms(50), false).size(), 3u);
  EXPECT_EQ(then("/d/a.txt", ms(50)), (Tree{{"/d/a.txt", first_["/d/a.txt"]}}));
  // A path names what was there then: /e did not exist before the rename, /d not after it.
  for (const auto& [path, when] : std::vector<std::pair<std::string, int64_t>>{
           {"/e", ms(150)}, {"/d", ms(250)}, {"/d", ms(-10)}, {"/d/b.txt", ms(150)}}) {
    auto r = services_->files().list(ctx_, path, true, when);
    ASSERT_FALSE(r.has_value()) << path << " at " << when;
    EXPECT_EQ(r.error().code(), ErrorCode::kNotFound);
  }
  // Now is now.
  EXPECT_EQ(then("/e", ms(300)), now("/e"));
}

TEST_P(PointInTimeTest, RestoreAtBringsAFolderBackInOneStep) {
  ASSERT_NO_FATAL_FAILURE(history_of_d());
  // A folder now where a file was then.
  ASSERT_EQ(commit_one(CommitOp::restore_at("/e", ms(50))).error_code, "not_found");
  ASSERT_EQ(commit_one(CommitOp::move("/e", "/d")).status, OpStatus::kOk);
  ASSERT_EQ(op(OpKind::kMkdir, "/d/b.txt").status, OpStatus::kOk);
  at(400);
  auto r = commit_one(CommitOp::restore_at("/d", ms(50)));
  ASSERT_EQ(r.status, OpStatus::kOk) << r.message;
  EXPECT_EQ(r.changed, 4);  // a.txt's content, b.txt, sub and sub/c.txt.
  EXPECT_EQ(r.deleted, 3);  // new.txt, sub2 (with c.txt) and the folder b.txt.
  EXPECT_EQ(contents(now("/d")), contents(first_));
  // Old contents come back as new versions: history is kept.
  auto h = services_->files().history(ctx_, "/d/a.txt", 0);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->versions.size(), 3u);
  // The state of now is not lost either: it can be restored in turn.
  auto trash = services_->files().trash(ctx_);
  ASSERT_TRUE(trash.has_value());
  EXPECT_EQ(trash->entries.size(), 3u);
  auto again = commit_one(CommitOp::restore_at("/d", ms(50)));
  EXPECT_EQ(again.status, OpStatus::kUnchanged);
}

TEST_P(PointInTimeTest, RestoreAtIsAllOrNothing) {
  ASSERT_NO_FATAL_FAILURE(history_of_d());
  ASSERT_EQ(commit_one(CommitOp::move("/e", "/d")).status, OpStatus::kOk);
  // b.txt's content of then is gone for good once the trash is emptied.
  ASSERT_TRUE(services_->files().empty_trash(ctx_).has_value());
  const auto current = now("/d");
  auto r = commit_one(CommitOp::restore_at("/d", ms(50)));
  EXPECT_EQ(r.status, OpStatus::kError);
  EXPECT_EQ(r.error_code, "not_found");
  EXPECT_NE(r.message.find("/d/b.txt"), std::string::npos) << r.message;
  EXPECT_EQ(now("/d"), current);
  auto listed = services_->files().list(ctx_, "/d", true, ms(50));
  ASSERT_FALSE(listed.has_value());
  EXPECT_EQ(listed.error().code(), ErrorCode::kNotFound);
}

TEST_P(PointInTimeTest, TimesBeyondWhatTheServerKeepsAreRefused) {
  ASSERT_NO_FATAL_FAILURE(history_of_d());
  ASSERT_TRUE(services_->maintenance().set_retention_days(1).has_value());
  at(3 * 86400);
  for (int64_t when : {ms(50), ms(3 * 86400 - 86400 - 10)}) {
    auto r = services_->files().list(ctx_, "/e", true, when);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message().find("older than"), std::string::npos);
    // The request is refused as a whole, as one with a bad path is.
    auto restore = services_->files().commit(ctx_, {"laptop", {CommitOp::restore_at("/e", when)}});
    ASSERT_FALSE(restore.has_value());
    EXPECT_EQ(restore.error().code(), ErrorCode::kInvalidArgument);
  }
  EXPECT_TRUE(services_->files().list(ctx_, "/e", true, ms(3 * 86400 - 3600)).has_value());
  // gc's retention forgets what came before the window, never what a time inside it needs.
  auto kept = metadata_->apply_retention(kStart + 2 * 86400, kStart + 3 * 86400);
  ASSERT_TRUE(kept.has_value()) << kept.error().message();
  EXPECT_EQ(kept->versions, 1);  // a.txt's first version.
  EXPECT_EQ(kept->nodes, 1);     // b.txt, deleted before the window.
  for (int64_t when : {ms(2 * 86400), ms(3 * 86400 - 3600), ms(3 * 86400)}) {
    EXPECT_EQ(then("/e", when), now("/e")) << when;
  }
}

TEST_P(PointInTimeTest, TheLogSaysWhatChangedWhereAndByWhomNewestFirst) {
  ASSERT_NO_FATAL_FAILURE(history_of_d());
  auto page = services_->files().log(ctx_, "/e", {0, 0, 100});
  ASSERT_TRUE(page.has_value()) << page.error().message();
  std::vector<std::string> seen;
  for (const auto& e : page->entries) {
    seen.push_back(e.op + " " + (e.from.empty() ? "" : e.from + " -> ") + e.path + " @" +
                   std::to_string(e.at_ms / 1000 - kStart));
    EXPECT_EQ(e.author, "alice");
    EXPECT_EQ(e.device, "laptop");
  }
  // Paths as they were when each change was made.
  EXPECT_EQ(seen, (std::vector<std::string>{
                      "move /d -> /e @200", "put /d/new.txt @100", "move /d/sub -> /d/sub2 @100",
                      "delete /d/b.txt @100", "put /d/a.txt @100", "put /d/sub/c.txt @0",
                      "mkdir /d/sub @0", "put /d/b.txt @0", "put /d/a.txt @0", "mkdir /d @0"}));
  // Pages and --since.
  auto first = services_->files().log(ctx_, "/e", {0, 0, 3});
  ASSERT_TRUE(first.has_value());
  ASSERT_EQ(first->entries.size(), 3u);
  auto rest = services_->files().log(ctx_, "/e", {first->next_before, 0, 100});
  ASSERT_TRUE(rest.has_value());
  EXPECT_EQ(rest->entries.size(), seen.size() - 3);
  EXPECT_EQ(rest->next_before, 0);
  auto recent = services_->files().log(ctx_, "/e", {0, ms(100), 100});
  ASSERT_TRUE(recent.has_value());
  EXPECT_EQ(recent->entries.size(), 5u);
  // One file: its own changes.
  auto one = services_->files().log(ctx_, "/e/a.txt", {0, 0, 100});
  ASSERT_TRUE(one.has_value());
  ASSERT_EQ(one->entries.size(), 2u);
  EXPECT_EQ(one->entries[0].version, 2);
  // A grantee's log of a shared folder says nothing of where the owner kept things before they
  // were moved into it.
  ASSERT_EQ(put_file("/private/plans.txt", "p", std::nullopt).status, OpStatus::kOk);
  ASSERT_EQ(commit_one(CommitOp::move("/private/plans.txt", "/e/sub2/plans.txt")).status,
            OpStatus::kOk);
  auto bob = services_->identity().add_user("bob");
  ASSERT_TRUE(bob.has_value());
  const service::RequestContext bob_ctx{bob->first, "phone", clock_.now};
  ASSERT_TRUE(services_->sharing().share(ctx_, {"/e/sub2", "bob", "viewer"}).has_value());
  auto seen_by_bob = services_->files().log(bob_ctx, "/Shared/sub2", {0, 0, 100});
  ASSERT_TRUE(seen_by_bob.has_value()) << seen_by_bob.error().message();
  ASSERT_FALSE(seen_by_bob->entries.empty());
  for (const auto& e : seen_by_bob->entries) {
    EXPECT_TRUE(is_within(e.path, "/Shared/sub2")) << e.op << " " << e.path;
    EXPECT_EQ((e.path + e.from).find("private"), std::string::npos) << e.path << " " << e.from;
  }
  // Sharing and unsharing are in the owner's log too.
  ASSERT_TRUE(services_->sharing().unshare(ctx_, "/e/sub2", "bob").has_value());
  auto shared = services_->files().log(ctx_, "/e", {0, 0, 2});
  ASSERT_TRUE(shared.has_value());
  ASSERT_EQ(shared->entries.size(), 2u);
  EXPECT_EQ(shared->entries[0].op + " " + shared->entries[0].path, "unshare /e/sub2");
  EXPECT_EQ(shared->entries[1].op + " " + shared->entries[1].path, "share /e/sub2");
}

TEST_P(PointInTimeTest, AGranteeSeesOnlyTheSharedFolderInThePast) {
  at(0);
  ASSERT_EQ(put_file("/proj/secret.txt", "s", std::nullopt).status, OpStatus::kOk);
  at(100);
  // The private folder moves away and a new one takes its name; that one is shared.
  ASSERT_EQ(commit_one(CommitOp::move("/proj", "/old")).status, OpStatus::kOk);
  ASSERT_EQ(put_file("/proj/public.txt", "p", std::nullopt).status, OpStatus::kOk);
  auto bob = services_->identity().add_user("bob");
  ASSERT_TRUE(bob.has_value());
  ASSERT_TRUE(services_->sharing().share(ctx_, {"/proj", "bob", "editor"}).has_value());
  at(200);
  const service::RequestContext bob_ctx{bob->first, "phone", clock_.now};
  // At t=50 /proj was the private folder: for bob, the shared one was not there yet.
  for (const std::string path : {"/Shared/proj", "/Shared/proj/secret.txt"}) {
    auto r = services_->files().list(bob_ctx, path, true, ms(50));
    ASSERT_FALSE(r.has_value()) << path;
    EXPECT_EQ(r.error().code(), ErrorCode::kNotFound);
    auto restored =
        services_->files().commit(bob_ctx, {"phone", {CommitOp::restore_at(path, ms(50))}});
    ASSERT_TRUE(restored.has_value());
    EXPECT_EQ(restored->results[0].error_code, "not_found");
  }
  EXPECT_EQ(names("/old"), std::vector<std::string>{"/old/secret.txt"});
  // Since it exists, bob sees it as it was.
  auto seen = services_->files().list(bob_ctx, "/Shared/proj", true, ms(150));
  ASSERT_TRUE(seen.has_value()) << seen.error().message();
  ASSERT_EQ(seen->entries.size(), 1u);
  EXPECT_EQ(seen->entries[0].path, "/Shared/proj/public.txt");
}

INSTANTIATE_TEST_SUITE_P(All, PointInTimeTest,
                         ::testing::Values(Backend{"Sqlite", ""}, Backend{"Postgres", "postgres"}),
                         backend_name);

}  // namespace
}  // namespace cairn::store::conformance
