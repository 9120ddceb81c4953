// Moves, history, restore, the trash, conflicted copies and quotas, on every metadata backend.

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "common/conflict_name.h"
#include "tests/unit/daemon/metadata_store_fixture.h"

namespace cairn::store::conformance {
namespace {

class TreeTest : public MetadataStoreTest {
 protected:
  // One commit of `ops`; every result.
  std::vector<protocol::CommitResult> commit(std::vector<CommitOp> ops,
                                             const service::RequestContext* as = nullptr) {
    auto r = services_->files().commit(as != nullptr ? *as : ctx_, {"laptop", std::move(ops)});
    EXPECT_TRUE(r.has_value()) << r.error().message();
    return r ? r->results : std::vector<protocol::CommitResult>{};
  }
  protocol::CommitResult one(CommitOp op) { return commit({std::move(op)}).at(0); }

  void advance(int64_t seconds) {
    clock_.now += seconds;
    ctx_.now = clock_.now;
  }

  uint64_t used() {
    auto q = services_->files().quota(ctx_);
    EXPECT_TRUE(q.has_value());
    return q ? q->used : 0;
  }

  protocol::TrashResponse trash() {
    auto t = services_->files().trash(ctx_);
    EXPECT_TRUE(t.has_value()) << t.error().message();
    return t ? *t : protocol::TrashResponse{};
  }
};

TEST_P(TreeTest, MovingAFolderOfAThousandFilesIsOneMetadataStep) {
  const ChunkRef chunk = upload_chunk("shared bytes", ctx_);
  std::vector<CommitOp> puts;
  for (int i = 0; i < 1000; ++i) {
    puts.push_back(CommitOp::put_file(file("/proj/src/f" + std::to_string(i), chunk)));
  }
  for (const auto& r : commit(std::move(puts))) ASSERT_EQ(r.status, OpStatus::kOk) << r.message;
  auto before = services_->files().list(ctx_, "/proj/src");
  ASSERT_TRUE(before.has_value());
  auto cursor = services_->files().changes(ctx_, "", 5000);
  ASSERT_TRUE(cursor.has_value());
  const uint64_t used_before = used();

  auto moved = one(CommitOp::move("/proj", "/archive/2026/proj"));
  ASSERT_EQ(moved.status, OpStatus::kOk) << moved.message;

  // The listing under the new path, with the same nodes and contents; the old path is gone.
  auto after = services_->files().list(ctx_, "/archive/2026/proj/src");
  ASSERT_TRUE(after.has_value()) << after.error().message();
  ASSERT_EQ(after->entries.size(), 1000u);
  for (size_t i = 0; i < after->entries.size(); ++i) {
    EXPECT_EQ(after->entries[i].node_id, before->entries[i].node_id);
    EXPECT_EQ(after->entries[i].manifest, before->entries[i].manifest);
    EXPECT_EQ(after->entries[i].path,
              "/archive/2026/proj/src/" + before->entries[i].path.substr(10));
  }
  EXPECT_EQ(services_->files().list(ctx_, "/proj").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(used(), used_before);  // Metadata only: nothing charged, no bytes touched.

  // In the journal: the two new folders and the moved one, no file (clients move a subtree by
  // prefix). A file's path comes from the rewritten closure rows.
  auto delta = services_->files().changes(ctx_, cursor->cursor, 5000);
  ASSERT_TRUE(delta.has_value());
  ASSERT_EQ(delta->changes.size(), 3u);
  EXPECT_EQ(delta->changes[0].path, "/archive");
  EXPECT_EQ(delta->changes[1].path, "/archive/2026");
  EXPECT_EQ(delta->changes[2].path, "/archive/2026/proj");
  auto h = services_->files().history(ctx_, "", before->entries[7].node_id);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->path, "/archive/2026/proj/src/f104");  // By name: f0, f1, f10, f100, ...

  // "Everything under X" follows the move: deleting the new folder takes all 1000 files.
  EXPECT_EQ(one(CommitOp::remove("/archive/2026/proj", std::nullopt)).status, OpStatus::kOk);
  auto t = trash();
  ASSERT_EQ(t.entries.size(), 1u);
  EXPECT_EQ(t.entries[0].path, "/archive/2026/proj");
  EXPECT_EQ(t.entries[0].files, 1000u);
}

// A batch of puts (what a push commits) makes its new files with set-based statements and the
// rest op by op; whichever way each went, the answers, the tree, the history, the feed and the
// closure are what committing them one at a time would have made.
TEST_P(TreeTest, ABatchOfPutsMakesNewFilesAtOnceAndTheRestOneByOne) {
  ASSERT_EQ(one(CommitOp::mkdir("/docs")).status, OpStatus::kOk);
  ASSERT_EQ(put_file("/docs/old.txt", "old v1", std::nullopt).status, OpStatus::kOk);
  const auto gone = put_file("/docs/gone.txt", "gone v1", std::nullopt);
  ASSERT_EQ(op(OpKind::kDelete, "/docs/gone.txt").status, OpStatus::kOk);
  auto before = services_->files().changes(ctx_, "", 1000);
  ASSERT_TRUE(before.has_value());
  const ChunkRef a = upload_chunk("chunk a", ctx_);
  const ChunkRef b = upload_chunk("chunk bb", ctx_);
  const ChunkRef absent{sha256(as_bytes("never uploaded")), 14};
  protocol::FileUpload link;
  link.path = "/docs/link";
  link.kind = protocol::NodeKind::kSymlink;
  link.symlink_target = "n1.txt";

  std::vector<CommitOp> ops{
      CommitOp::put_file(file("/docs/n1.txt", a)),           // 0: new
      CommitOp::put_file(file("/docs/old.txt", b, 1)),       // 1: an edit
      CommitOp::put_file(file("/docs/gone.txt", a)),         // 2: back from the trash
      CommitOp::put_file(file("/new/deep/n2.txt", a)),       // 3: in folders to make
      CommitOp::put_file(file("/docs/n3.txt", b)),           // 4: new
      CommitOp::put_file(file("/docs/twice.txt", a)),        // 5: named twice...
      CommitOp::put_file(file("/docs/twice.txt", b)),        // 6: ...the second is a copy
      CommitOp::put_file(file("/docs/unheld.txt", absent)),  // 7: a chunk never uploaded
      CommitOp::put_file(file("/n4.txt", b)),                // 8: new, at the top
      CommitOp::put_file(link),                              // 9: a new symlink
  };
  // 10-17: enough more new files that those of the batch are made at once.
  std::vector<std::string> more;
  for (int i = 0; i < 8; ++i) {
    more.push_back("/docs/z" + std::to_string(i) + ".txt");
    ops.push_back(CommitOp::put_file(file(more.back(), a)));
  }
  auto results = commit(std::move(ops));
  ASSERT_EQ(results.size(), 18u);
  const std::vector<OpStatus> want{
      OpStatus::kOk, OpStatus::kOk,     OpStatus::kOk,    OpStatus::kOk, OpStatus::kOk,
      OpStatus::kOk, OpStatus::kCopied, OpStatus::kError, OpStatus::kOk, OpStatus::kOk};
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(results[i].status, want[i]) << i << ": " << results[i].message;
  }
  EXPECT_EQ(results[0].path, "/docs/n1.txt");
  EXPECT_EQ(results[1].version, 2);
  EXPECT_EQ(results[2].node_id, gone.node_id);  // The same node, its history kept.
  EXPECT_EQ(results[2].version, 2);
  EXPECT_NE(results[7].message.find(absent.hash.hex()), std::string::npos);
  std::set<int64_t> ids;
  for (size_t i : {0, 3, 4, 5, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17}) {
    EXPECT_EQ(results[i].status, OpStatus::kOk) << i;
    EXPECT_EQ(results[i].version, 1) << i;
    EXPECT_NE(results[i].node_id, 0) << i;
    ids.insert(results[i].node_id);
  }
  EXPECT_EQ(ids.size(), 14u);
  EXPECT_EQ(results[17].path, "/docs/z7.txt");

  std::vector<std::string> in_docs{"/docs/gone.txt", "/docs/link",    "/docs/n1.txt",
                                   "/docs/n3.txt",   "/docs/old.txt", results[6].copy,
                                   "/docs/twice.txt"};
  in_docs.insert(in_docs.end(), more.begin(), more.end());
  EXPECT_EQ(names("/docs"), in_docs);
  auto z5 = services_->files().list(ctx_, "/docs/z5.txt");
  ASSERT_TRUE(z5.has_value());
  EXPECT_EQ(z5->entries.at(0).node_id, results[15].node_id);
  EXPECT_EQ(z5->entries.at(0).size, a.length);
  auto n3 = services_->files().list(ctx_, "/docs/n3.txt");
  ASSERT_TRUE(n3.has_value());
  EXPECT_EQ(n3->entries.at(0).size, b.length);
  EXPECT_EQ(n3->entries.at(0).node_id, results[4].node_id);
  auto l = services_->files().list(ctx_, "/docs/link");
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(l->entries.at(0).symlink_target, "n1.txt");
  auto h = services_->files().history(ctx_, "/docs/gone.txt", 0);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->versions.size(), 2u);
  // old, gone, n1-n4, twice, its copy, z0-z7.
  EXPECT_EQ(used(), 12u * a.length + 4u * b.length);

  // The feed has each change once (those made at once come first: none of them can depend on
  // another op of the batch).
  auto after = services_->files().changes(ctx_, before->cursor, 1000);
  ASSERT_TRUE(after.has_value());
  std::vector<std::string> fed;
  for (const auto& e : after->changes) {
    if (e.kind != protocol::NodeKind::kFolder) fed.push_back(e.path);
  }
  std::sort(fed.begin(), fed.end());
  std::vector<std::string> want_fed{"/docs/gone.txt", "/docs/link",    "/docs/n1.txt",
                                    "/docs/n3.txt",   "/docs/old.txt", results[6].copy,
                                    "/docs/twice.txt"};
  want_fed.insert(want_fed.end(), more.begin(), more.end());
  want_fed.insert(want_fed.end(), {"/n4.txt", "/new/deep/n2.txt"});
  EXPECT_EQ(fed, want_fed);

  // Their closure rows are right: check finds nothing, and deleting the folder takes them along.
  auto checked = services_->maintenance().check({0, 0});
  ASSERT_TRUE(checked.has_value()) << checked.error().message();
  EXPECT_TRUE(checked->clean()) << (checked->problems.empty() ? "" : checked->problems[0]);
  ASSERT_EQ(op(OpKind::kDelete, "/docs").status, OpStatus::kOk);
  EXPECT_EQ(names("/"), (std::vector<std::string>{"/n4.txt", "/new"}));
  const auto bin = trash();
  auto docs = std::find_if(bin.entries.begin(), bin.entries.end(),
                           [](const auto& t) { return t.path == "/docs"; });
  ASSERT_TRUE(docs != bin.entries.end());
  EXPECT_EQ(docs->files, 14u);  // Every file in it (not the symlink), those made at once too.
  ASSERT_EQ(one(CommitOp::undelete(docs->node_id)).status, OpStatus::kOk);
  EXPECT_EQ(names("/docs"), in_docs);
}

// Over quota, the batch is done op by op: what fits is committed, what does not is refused.
TEST_P(TreeTest, ABatchOfNewFilesOverQuotaCommitsWhatFits) {
  std::vector<CommitOp> ops;
  for (int i = 0; i < 8; ++i) {
    const ChunkRef c = upload_chunk(std::string(100, static_cast<char>('a' + i)), ctx_);
    ops.push_back(CommitOp::put_file(file("/f" + std::to_string(i), c)));
  }
  const ChunkRef big = upload_chunk(std::string(500, 'z'), ctx_);
  ops.push_back(CommitOp::put_file(file("/big", big)));
  ASSERT_TRUE(services_->identity().set_quota(ctx_.user.name, 1000));
  auto results = commit(std::move(ops));
  ASSERT_EQ(results.size(), 9u);
  for (size_t i = 0; i < 8; ++i) EXPECT_EQ(results[i].status, OpStatus::kOk) << i;
  EXPECT_EQ(results[8].status, OpStatus::kError);
  EXPECT_EQ(results[8].error_code, "quota_exceeded") << results[8].message;
  EXPECT_EQ(names("/").size(), 8u);
  EXPECT_EQ(used(), 800u);
}

TEST_P(TreeTest, MovesThatCannotBeAreRefusedAndChangeNothing) {
  const ChunkRef chunk = upload_chunk("x", ctx_);
  commit(
      {CommitOp::put_file(file("/a/b/c.txt", chunk)), CommitOp::put_file(file("/d.txt", chunk))});
  auto into_itself = one(CommitOp::move("/a", "/a/b/a"));
  EXPECT_EQ(into_itself.status, OpStatus::kError);
  EXPECT_EQ(into_itself.error_code, "invalid_argument");
  EXPECT_NE(into_itself.message.find("into itself"), std::string::npos);
  auto clash = one(CommitOp::move("/d.txt", "/a/b/c.txt"));
  EXPECT_EQ(clash.status, OpStatus::kError);
  EXPECT_EQ(clash.error_code, "already_exists");
  EXPECT_EQ(one(CommitOp::move("/nope", "/x")).error_code, "not_found");
  EXPECT_EQ(one(CommitOp::move("/", "/x")).error_code, "invalid_argument");
  // Moves go by identity: a node that no longer exists is not found, whatever is at the path.
  EXPECT_EQ(one(CommitOp::move("/d.txt", "/e.txt", 999999)).error_code, "not_found");
  EXPECT_EQ(names("/"), (std::vector<std::string>{"/a", "/d.txt"}));
  EXPECT_EQ(names("/a/b"), (std::vector<std::string>{"/a/b/c.txt"}));
  // A move to where it is changes nothing.
  EXPECT_EQ(one(CommitOp::move("/d.txt", "/d.txt")).status, OpStatus::kUnchanged);
}

TEST_P(TreeTest, RenamesKeepIdentityAndHistoryIncludingCaseOnly) {
  auto v1 = put_file("/Notes.TXT", "one", std::nullopt);
  ASSERT_EQ(put_file("/Notes.TXT", "two", 1).version, 2);
  auto renamed = one(CommitOp::move("/Notes.TXT", "/notes.txt", v1.node_id));
  ASSERT_EQ(renamed.status, OpStatus::kOk) << renamed.message;
  EXPECT_EQ(renamed.node_id, v1.node_id);
  EXPECT_EQ(names("/"), std::vector<std::string>{"/notes.txt"});
  auto moved = one(CommitOp::move("/notes.txt", "/docs/notes.txt"));
  ASSERT_EQ(moved.status, OpStatus::kOk);
  auto h = services_->files().history(ctx_, "/docs/notes.txt", 0);
  ASSERT_TRUE(h.has_value()) << h.error().message();
  EXPECT_EQ(h->node_id, v1.node_id);
  ASSERT_EQ(h->versions.size(), 2u);
  // An edit after the move continues the same history.
  EXPECT_EQ(put_file("/docs/notes.txt", "three", 2).version, 3);
  // A client that still knows it by its old path moves it by its id.
  auto by_id = one(CommitOp::move("/Notes.TXT", "/final.txt", v1.node_id));
  ASSERT_EQ(by_id.status, OpStatus::kOk) << by_id.message;
  EXPECT_EQ(names("/"), (std::vector<std::string>{"/docs", "/final.txt"}));
  // And an edit made against its old path lands where it is now.
  protocol::FileUpload edit;
  edit.path = "/Notes.TXT";
  edit.chunks = {upload_chunk("four", ctx_)};
  edit.base_version = 3;
  edit.node_id = v1.node_id;
  auto followed = one(CommitOp::put_file(edit));
  EXPECT_EQ(followed.status, OpStatus::kOk) << followed.message;
  EXPECT_EQ(followed.path, "/final.txt");
  EXPECT_EQ(followed.version, 4);
  EXPECT_EQ(names("/"), (std::vector<std::string>{"/docs", "/final.txt"}));
}

TEST_P(TreeTest, HistoryAndRestoreRoundTrip) {
  auto v1 = put_file("/r.txt", "first", std::nullopt);
  advance(60);
  put_file("/r.txt", "second!", 1);
  advance(60);
  put_file("/r.txt", "3", 2);
  auto h = services_->files().history(ctx_, "/r.txt", 0);
  ASSERT_TRUE(h.has_value());
  ASSERT_EQ(h->versions.size(), 3u);
  EXPECT_EQ(h->versions[0].version, 3);  // Newest first.
  EXPECT_EQ(h->versions[2].version, 1);
  EXPECT_EQ(h->versions[2].size, 5u);
  EXPECT_EQ(h->versions[2].author, "alice");
  EXPECT_EQ(h->versions[2].device, "laptop");
  EXPECT_EQ(h->versions[1].created_at, h->versions[2].created_at + 60);
  const std::string first_manifest = h->versions[2].manifest;
  EXPECT_EQ(used(), 1u);

  auto restored = one(CommitOp::restore("/r.txt", 1));
  ASSERT_EQ(restored.status, OpStatus::kOk) << restored.message;
  EXPECT_EQ(restored.version, 4);
  auto listed = services_->files().list(ctx_, "/r.txt");
  ASSERT_TRUE(listed.has_value());
  ASSERT_TRUE(listed->entries[0].manifest.has_value());
  EXPECT_EQ(listed->entries[0].manifest->hex(),
            first_manifest);  // The old manifest; no bytes copied.
  EXPECT_EQ(listed->entries[0].version, 4);
  EXPECT_EQ(used(), 5u);
  EXPECT_EQ(services_->files().history(ctx_, "/r.txt", 0)->versions.size(), 4u);
  // Restoring the head's content again changes nothing; missing versions and folders refuse.
  EXPECT_EQ(one(CommitOp::restore("/r.txt", 1)).status, OpStatus::kUnchanged);
  EXPECT_EQ(one(CommitOp::restore("/r.txt", 9)).error_code, "not_found");
  EXPECT_EQ(one(CommitOp::restore("/gone.txt", 1)).error_code, "not_found");
  EXPECT_EQ(one(CommitOp::mkdir("/f")).status, OpStatus::kOk);
  EXPECT_EQ(one(CommitOp::restore("/f", 1)).error_code, "invalid_argument");
  EXPECT_EQ(services_->files().history(ctx_, "/f", 0).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(v1.version, 1);
}

TEST_P(TreeTest, PermissionBitsAreKeptPerVersionAndPerFolder) {
  protocol::FileUpload key = file("/keys/id", upload_chunk("secret", ctx_));
  key.mode = 0600;
  ASSERT_EQ(one(CommitOp::put_file(key)).status, OpStatus::kOk);
  auto mode_of = [&](const std::string& path) {  // As its parent's listing shows it.
    auto l = services_->files().list(ctx_, path.substr(0, std::max<size_t>(1, path.rfind('/'))));
    EXPECT_TRUE(l.has_value()) << path;
    for (const auto& e : l ? l->entries : std::vector<protocol::Entry>{}) {
      if (e.path == path) return e.mode;
    }
    return 0u;
  };
  EXPECT_EQ(mode_of("/keys/id"), 0600u);
  EXPECT_EQ(mode_of("/keys"), 0755u);  // Made on the way: the default.

  // A chmod alone is a new version (others must see it); the same mode again is no change.
  protocol::FileUpload opened = file("/keys/id", upload_chunk("secret", ctx_), 1);
  opened.mode = 0644;
  auto v2 = one(CommitOp::put_file(opened));
  ASSERT_EQ(v2.status, OpStatus::kOk) << v2.message;
  EXPECT_EQ(v2.version, 2);
  EXPECT_EQ(mode_of("/keys/id"), 0644u);
  opened.base_version = 2;
  EXPECT_EQ(one(CommitOp::put_file(opened)).status, OpStatus::kUnchanged);
  auto h = services_->files().history(ctx_, "/keys/id", 0);
  ASSERT_TRUE(h.has_value());
  ASSERT_EQ(h->versions.size(), 2u);
  EXPECT_EQ(h->versions[1].mode, 0600u);
  // Restoring a version brings back its mode with its bytes.
  EXPECT_EQ(one(CommitOp::restore("/keys/id", 1)).status, OpStatus::kOk);
  EXPECT_EQ(mode_of("/keys/id"), 0600u);

  // A folder's mode: set by mkdir, on a new folder or an existing one, and seen in the feed.
  auto before = services_->files().changes(ctx_, "", 1000);
  ASSERT_TRUE(before.has_value());
  EXPECT_EQ(one(CommitOp::mkdir("/keys", 0700)).status, OpStatus::kOk);
  EXPECT_EQ(mode_of("/keys"), 0700u);
  EXPECT_EQ(one(CommitOp::mkdir("/keys", 0700)).status, OpStatus::kUnchanged);
  EXPECT_EQ(one(CommitOp::mkdir("/keys")).status, OpStatus::kUnchanged);  // No mode: kept.
  EXPECT_EQ(mode_of("/keys"), 0700u);
  auto after = services_->files().changes(ctx_, before->cursor, 1000);
  ASSERT_TRUE(after.has_value());
  ASSERT_EQ(after->changes.size(), 1u);
  EXPECT_EQ(after->changes[0].path, "/keys");
  EXPECT_EQ(after->changes[0].mode, 0700u);
  EXPECT_EQ(one(CommitOp::mkdir("/shared/new", 0750)).status, OpStatus::kOk);
  EXPECT_EQ(mode_of("/shared/new"), 0750u);
  EXPECT_EQ(mode_of("/shared"), 0755u);
}

TEST_P(TreeTest, TrashRestoresAFolderWithNestedContent) {
  put_file("/t/a/x.txt", "x", std::nullopt);
  put_file("/t/a/b/y.txt", "yy", std::nullopt);
  put_file("/t/z.txt", "zzz", std::nullopt);
  ASSERT_EQ(one(CommitOp::remove("/t/a/x.txt", 1)).status, OpStatus::kOk);
  ASSERT_EQ(one(CommitOp::remove("/t", std::nullopt)).status, OpStatus::kOk);
  EXPECT_EQ(services_->files().list(ctx_, "/t").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(used(), 6u);  // The trash counts.

  // One entry for the folder (x.txt was deleted on its own and sits inside it).
  auto t = trash();
  ASSERT_EQ(t.entries.size(), 1u);
  EXPECT_EQ(t.entries[0].path, "/t");
  EXPECT_EQ(t.entries[0].kind, protocol::NodeKind::kFolder);
  EXPECT_EQ(t.entries[0].files, 2u);
  EXPECT_EQ(t.entries[0].size, 5u);

  auto back = one(CommitOp::undelete(t.entries[0].node_id));
  ASSERT_EQ(back.status, OpStatus::kOk) << back.message;
  EXPECT_EQ(back.path, "/t");
  EXPECT_EQ(names("/t"), (std::vector<std::string>{"/t/a", "/t/z.txt"}));
  EXPECT_EQ(names("/t/a"), std::vector<std::string>{"/t/a/b"});
  EXPECT_EQ(names("/t/a/b"), std::vector<std::string>{"/t/a/b/y.txt"});
  // What was deleted before the folder stays in the trash, now an entry of its own.
  t = trash();
  ASSERT_EQ(t.entries.size(), 1u);
  EXPECT_EQ(t.entries[0].path, "/t/a/x.txt");
  // Restored to a new place.
  auto elsewhere = one(CommitOp::undelete(t.entries[0].node_id, "/restored/x.txt"));
  ASSERT_EQ(elsewhere.status, OpStatus::kOk) << elsewhere.message;
  EXPECT_EQ(names("/restored"), std::vector<std::string>{"/restored/x.txt"});
  EXPECT_TRUE(trash().entries.empty());
  EXPECT_EQ(services_->files().history(ctx_, "/restored/x.txt", 0)->versions.size(), 1u);

  // The old place taken: refused, nothing changes; a new place works.
  auto old = put_file("/q.txt", "old", std::nullopt);
  ASSERT_EQ(one(CommitOp::remove("/q.txt", 1)).status, OpStatus::kOk);
  ASSERT_EQ(one(CommitOp::mkdir("/q.txt")).status, OpStatus::kOk);
  EXPECT_EQ(one(CommitOp::undelete(old.node_id)).error_code, "already_exists");
  EXPECT_EQ(one(CommitOp::undelete(old.node_id, "/q-old.txt")).status, OpStatus::kOk);
  EXPECT_EQ(one(CommitOp::undelete(424242)).error_code, "not_found");
}

TEST_P(TreeTest, EmptyingTheTrashIsForGoodAndRefundsTheQuota) {
  auto a = put_file("/e/a.txt", "aaaa", std::nullopt);
  put_file("/keep.txt", "kk", std::nullopt);
  ASSERT_EQ(one(CommitOp::remove("/e", std::nullopt)).status, OpStatus::kOk);
  EXPECT_EQ(used(), 6u);
  auto emptied = services_->files().empty_trash(ctx_);
  ASSERT_TRUE(emptied.has_value()) << emptied.error().message();
  EXPECT_EQ(emptied->nodes, 2u);  // The folder and its file.
  EXPECT_EQ(emptied->bytes, 4u);
  EXPECT_EQ(used(), 2u);
  EXPECT_TRUE(trash().entries.empty());
  EXPECT_EQ(services_->files().history(ctx_, "", a.node_id).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(one(CommitOp::undelete(a.node_id)).error_code, "not_found");
  // The same path again is a new node with a history of its own.
  auto again = put_file("/e/a.txt", "new", std::nullopt);
  EXPECT_NE(again.node_id, a.node_id);
  EXPECT_EQ(again.version, 1);
}

TEST_P(TreeTest, AStaleEditBecomesAConflictedCopyOnceAndNeverNests) {
  put_file("/docs/plan.md", "v1", std::nullopt);
  put_file("/docs/plan.md", "theirs", 1);
  ctx_.device = "laptop";
  auto copied = put_file("/docs/plan.md", "mine", 1);
  ASSERT_EQ(copied.status, OpStatus::kCopied) << copied.message;
  const std::string copy = "/docs/plan (conflicted copy from laptop 2027-01-15 080000).md";
  EXPECT_EQ(copied.copy, copy);
  EXPECT_EQ(copied.version, 1);
  // Both contents survive, each at its own path.
  EXPECT_EQ(names("/docs"), (std::vector<std::string>{copy, "/docs/plan.md"}));
  EXPECT_EQ(services_->files().list(ctx_, "/docs/plan.md")->entries[0].size, 6u);
  EXPECT_EQ(services_->files().list(ctx_, copy)->entries[0].size, 4u);
  // The same commit again (a retry, or the other device naming the same conflict) finds it.
  auto again = put_file("/docs/plan.md", "mine", 1);
  EXPECT_EQ(again.status, OpStatus::kCopied);
  EXPECT_EQ(again.copy, copy);
  EXPECT_EQ(again.node_id, copied.node_id);
  // Another stale edit at the same moment takes the next number.
  auto other = put_file("/docs/plan.md", "mine, other", 1);
  EXPECT_EQ(other.copy, "/docs/plan (conflicted copy 2 from laptop 2027-01-15 080000).md");
  // A conflict on the copy itself does not nest.
  put_file(copy, "edited copy", 1);
  auto on_copy = put_file(copy, "stale copy edit", 0);
  EXPECT_EQ(on_copy.status, OpStatus::kCopied);
  EXPECT_EQ(on_copy.copy, "/docs/plan (conflicted copy 3 from laptop 2027-01-15 080000).md");
  EXPECT_EQ(used(), 6u + 11u + 11u + 15u);
}

TEST_P(TreeTest, QuotaRefusesACommitThatWouldPassItAndChangesNothing) {
  ASSERT_TRUE(services_->identity().set_quota("alice", 10));
  EXPECT_EQ(services_->files().quota(ctx_)->limit, std::optional<uint64_t>(10));
  EXPECT_EQ(put_file("/a", "123456", std::nullopt).status, OpStatus::kOk);
  auto over = put_file("/b", "123456", std::nullopt);
  EXPECT_EQ(over.status, OpStatus::kError);
  EXPECT_EQ(over.error_code, "quota_exceeded");
  EXPECT_NE(over.message.find("4 of 10 are left"), std::string::npos) << over.message;
  EXPECT_EQ(names("/"), std::vector<std::string>{"/a"});
  EXPECT_EQ(used(), 6u);
  // Shrinking is always allowed; an edit is charged the difference.
  EXPECT_EQ(put_file("/a", "12", 1).status, OpStatus::kOk);
  EXPECT_EQ(used(), 2u);
  EXPECT_EQ(put_file("/b", "12345678", std::nullopt).status, OpStatus::kOk);
  EXPECT_EQ(used(), 10u);
  // Deleting keeps the bytes charged (the trash counts) until the trash is emptied.
  EXPECT_EQ(one(CommitOp::remove("/b", 1)).status, OpStatus::kOk);
  EXPECT_EQ(put_file("/c", "1", std::nullopt).error_code, "quota_exceeded");
  ASSERT_TRUE(services_->files().empty_trash(ctx_));
  EXPECT_EQ(used(), 2u);
  EXPECT_EQ(put_file("/c", "1", std::nullopt).status, OpStatus::kOk);
  ASSERT_TRUE(services_->identity().set_quota("alice", std::nullopt));
  EXPECT_FALSE(services_->files().quota(ctx_)->limit.has_value());
  EXPECT_EQ(services_->identity().set_quota("nobody", 5).error().code(), ErrorCode::kNotFound);
}

// A commit that names the caller's feed cursor gets it back moved past its own changes when
// nothing else changed since (what a push does, so that the next pull does not read back what it
// wrote); otherwise it gets none, and reading from the old cursor shows everything.
TEST_P(TreeTest, ACommitMovesTheCallersCursorPastItsOwnChangesOnly) {
  const ChunkRef chunk = upload_chunk("cursor bytes", ctx_);
  const auto commit_at = [&](std::optional<std::string> cursor, std::vector<CommitOp> ops) {
    auto r = services_->files().commit(ctx_, {"laptop", std::move(ops), std::move(cursor)});
    EXPECT_TRUE(r.has_value()) << r.error().message();
    return r ? *r : protocol::CommitResponse{};
  };
  const auto feed = [&](const std::string& cursor) {
    auto c = services_->files().changes(ctx_, cursor, 5000);
    EXPECT_TRUE(c.has_value()) << c.error().message();
    return c ? *c : protocol::ChangesResponse{};
  };
  ASSERT_TRUE(feed("").changes.empty());

  // A user with nothing yet: the empty cursor moves too, to where a full read ends.
  auto first = commit_at("", {CommitOp::mkdir("/a"), CommitOp::put_file(file("/a/1", chunk))});
  ASSERT_TRUE(first.cursor.has_value());
  EXPECT_TRUE(feed(*first.cursor).changes.empty());
  EXPECT_EQ(*first.cursor, feed("").cursor);

  // Chained, through a batch of new files made at once.
  std::vector<CommitOp> batch;
  for (int i = 0; i < 20; ++i) {
    batch.push_back(CommitOp::put_file(file("/a/n" + std::to_string(i), chunk)));
  }
  auto second = commit_at(first.cursor, std::move(batch));
  ASSERT_TRUE(second.cursor.has_value());
  EXPECT_NE(*second.cursor, *first.cursor);
  EXPECT_TRUE(feed(*second.cursor).changes.empty());
  EXPECT_EQ(feed(*first.cursor).changes.size(), 20u);

  // An op that is refused after one that lands, and one that lands after: exactly at the head.
  auto third = commit_at(second.cursor, {CommitOp::put_file(file("/a/2", chunk)),
                                         CommitOp::remove("/a/1", 99), CommitOp::mkdir("/b")});
  ASSERT_EQ(third.results.at(1).status, OpStatus::kConflict);
  ASSERT_TRUE(third.cursor.has_value());
  EXPECT_TRUE(feed(*third.cursor).changes.empty());
  EXPECT_EQ(*third.cursor, feed("").cursor);

  // Someone else's change in between: no cursor, and the old one shows both.
  ASSERT_EQ(one(CommitOp::put_file(file("/a/other", chunk))).status, OpStatus::kOk);
  auto fourth = commit_at(third.cursor, {CommitOp::put_file(file("/a/3", chunk))});
  ASSERT_EQ(fourth.results.at(0).status, OpStatus::kOk);
  EXPECT_FALSE(fourth.cursor.has_value());
  std::set<std::string> seen;
  for (const auto& e : feed(*third.cursor).changes) seen.insert(e.path);
  EXPECT_EQ(seen, (std::set<std::string>{"/a/other", "/a/3"}));

  // Not asked, a cursor that is not one, or an empty one when there were files already: none.
  EXPECT_FALSE(commit_at(std::nullopt, {CommitOp::mkdir("/c")}).cursor.has_value());
  EXPECT_FALSE(commit_at("garbage", {CommitOp::mkdir("/d")}).cursor.has_value());
  EXPECT_FALSE(commit_at("", {CommitOp::mkdir("/e")}).cursor.has_value());
  // A commit that changes nothing leaves a current cursor current.
  const std::string now = feed("").cursor;
  auto same = commit_at(now, {CommitOp::mkdir("/e")});
  ASSERT_EQ(same.results.at(0).status, OpStatus::kUnchanged);
  EXPECT_EQ(same.cursor, std::optional<std::string>(now));
}

// Two clients commit at once and together would pass the quota: exactly one wins, every time,
// and usage is exactly what was committed.
TEST_P(TreeTest, QuotaHoldsUnderConcurrentCommits) {
  ASSERT_TRUE(services_->identity().set_quota("alice", 1000));
  const ChunkRef big = upload_chunk(std::string(600, 'q'), ctx_);
  const ChunkRef other = upload_chunk(std::string(600, 'r'), ctx_);
  for (int round = 0; round < 20; ++round) {
    std::atomic<int> won{0};
    std::atomic<int> refused{0};
    std::vector<std::thread> clients;
    for (int c = 0; c < 2; ++c) {
      clients.emplace_back([&, c] {
        auto r = services_->files().commit(
            ctx_,
            {"device" + std::to_string(c),
             {CommitOp::put_file(file("/race" + std::to_string(round) + "/c" + std::to_string(c),
                                      c == 0 ? big : other))}});
        if (!r) return;
        if (r->results.at(0).status == OpStatus::kOk) ++won;
        if (r->results.at(0).error_code == "quota_exceeded") ++refused;
      });
    }
    for (auto& t : clients) t.join();
    EXPECT_EQ(won.load(), 1) << "round " << round;
    EXPECT_EQ(refused.load(), 1) << "round " << round;
    EXPECT_EQ(used(), 600u) << "round " << round;
    EXPECT_EQ(names("/race" + std::to_string(round)).size(), 1u);
    ASSERT_EQ(one(CommitOp::remove("/race" + std::to_string(round), std::nullopt)).status,
              OpStatus::kOk);
    ASSERT_TRUE(services_->files().empty_trash(ctx_));
    ASSERT_EQ(used(), 0u);
  }
}

TEST_P(TreeTest, RetentionForgetsOldHistoryAndTrashButNeverAHead) {
  const int64_t day = 86400;
  put_file("/kept.txt", "v1", std::nullopt);
  advance(day);
  put_file("/kept.txt", "v2", 1);
  put_file("/binned.txt", "bin", std::nullopt);
  ASSERT_EQ(one(CommitOp::remove("/binned.txt", 1)).status, OpStatus::kOk);
  advance(39 * day);
  put_file("/kept.txt", "v3", 2);
  advance(day);  // Day 41.

  // Without a setting, gc keeps everything.
  auto kept = services_->maintenance().collect_garbage({});
  ASSERT_TRUE(kept.has_value()) << kept.error().message();
  EXPECT_EQ(kept->versions_expired, 0);
  ASSERT_TRUE(services_->maintenance().set_retention_days(30));
  EXPECT_EQ(*services_->maintenance().retention_days(), std::optional<int64_t>(30));
  auto gc = services_->maintenance().collect_garbage({});
  ASSERT_TRUE(gc.has_value()) << gc.error().message();
  // v1 was superseded on day 1 (gone); v2 on day 40 (kept); v3 is the head.
  EXPECT_EQ(gc->versions_expired, 1);
  EXPECT_EQ(gc->trash_purged, 1);
  EXPECT_EQ(gc->trash_bytes, 3u);
  auto h = services_->files().history(ctx_, "/kept.txt", 0);
  ASSERT_TRUE(h.has_value());
  ASSERT_EQ(h->versions.size(), 2u);
  EXPECT_EQ(h->versions[0].version, 3);
  EXPECT_EQ(h->versions[1].version, 2);
  EXPECT_TRUE(trash().entries.empty());
  EXPECT_EQ(used(), 2u);
  EXPECT_EQ(services_->maintenance().set_retention_days(-1).error().code(),
            ErrorCode::kInvalidArgument);
  ASSERT_TRUE(services_->maintenance().set_retention_days(std::nullopt));
  EXPECT_FALSE(services_->maintenance().retention_days()->has_value());
}

TEST_P(TreeTest, ARepeatedRequestGetsItsFirstAnswerAndChangesNothing) {
  // A commit that carries a request id, delivered again after the tree moved on (a retry after a
  // lost answer, or a copy the network delivered late): the first answer again, nothing done.
  auto& files = services_->files();
  auto send = [&](const std::string& id, std::vector<CommitOp> ops) {
    protocol::CommitRequest req{"laptop", std::move(ops)};
    req.request_id = id;
    return files.commit(ctx_, req);
  };
  protocol::FileUpload made;
  made.path = "/r.txt";
  made.chunks = {upload_chunk("one", ctx_)};
  const std::vector<CommitOp> create = {CommitOp::put_file(made)};
  auto first = send("create-r-txt-0001", create);
  ASSERT_TRUE(first.has_value()) << first.error().message();
  ASSERT_EQ(first->results.at(0).status, OpStatus::kOk);
  const int64_t node = first->results[0].node_id;
  ASSERT_EQ(put_file("/r.txt", "two", 1).version, 2);

  auto again = send("create-r-txt-0001", create);
  ASSERT_TRUE(again.has_value()) << again.error().message();
  EXPECT_EQ(again->results.at(0).status, OpStatus::kOk);
  EXPECT_EQ(again->results[0].version, 1);                    // What it answered then,
  EXPECT_EQ(names("/"), std::vector<std::string>{"/r.txt"});  // and no conflicted copy of "one".
  EXPECT_EQ(files.history(ctx_, "/r.txt", 0)->versions.size(), 2U);

  // A move, undone since: its repeat does not move the file again.
  ASSERT_EQ(one(CommitOp::mkdir("/a")).status, OpStatus::kOk);
  ASSERT_TRUE(send("move-r-txt-00001", {CommitOp::move("/r.txt", "/a/r.txt", node)}).has_value());
  ASSERT_EQ(one(CommitOp::move("/a/r.txt", "/r.txt", node)).status, OpStatus::kOk);
  auto moved = send("move-r-txt-00001", {CommitOp::move("/r.txt", "/a/r.txt", node)});
  ASSERT_TRUE(moved.has_value());
  EXPECT_EQ(moved->results.at(0).status, OpStatus::kOk);
  EXPECT_EQ(names("/a"), std::vector<std::string>{});

  // The same id for something else is refused whole; an id that is not one is a 400.
  auto other = send("create-r-txt-0001", {CommitOp::mkdir("/b")});
  ASSERT_FALSE(other.has_value());
  EXPECT_EQ(other.error().code(), ErrorCode::kConflict);
  auto bad = send("short", {CommitOp::mkdir("/b")});
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(names("/"), (std::vector<std::string>{"/a", "/r.txt"}));

  // A day later the record is gone: the same request is a new one (here, a conflicted copy).
  advance(24 * 3600 + 1);
  auto late = send("create-r-txt-0001", create);
  ASSERT_TRUE(late.has_value());
  EXPECT_EQ(late->results.at(0).status, OpStatus::kCopied);
}

INSTANTIATE_TEST_SUITE_P(All, TreeTest,
                         ::testing::Values(Backend{"Sqlite", ""}, Backend{"Postgres", "postgres"}),
                         backend_name);

}  // namespace
}  // namespace cairn::store::conformance
