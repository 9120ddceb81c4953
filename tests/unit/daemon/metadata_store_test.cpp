// Conformance suite for MetadataStore: every backend runs these tests through Services (so the
// rules live in one place) and directly. A new backend adds one INSTANTIATE line at the bottom.

#include "daemon/store/metadata_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <future>
#include <set>
#include <thread>

#include "common/manifest.h"
#include "daemon/service/services.h"
#include "daemon/store/local_blob_store.h"
#include "daemon/store/sql/postgres_database.h"
#include "daemon/store/sql/sqlite_database.h"
#include "daemon/store/sql_metadata_store.h"
#include "tests/unit/daemon/backends.h"
#include "tests/unit/daemon/metadata_store_fixture.h"
#include "tests/unit/daemon/service_test_support.h"
#include "tests/unit/daemon/test_dir.h"

namespace cairn::store::conformance {
namespace {

// The database at `location` itself, beneath the metadata store: a PostgreSQL URL or a SQLite
// file, for tests that look at the schema or write what an older version wrote.
std::unique_ptr<sql::Database> open_raw(const std::string& location, bool postgres) {
  if (!postgres) return std::move(*sql::open_sqlite(location, false));
  sql::PostgresOptions options;
  options.url = location;
  options.pool_size = 1;
  return std::move(*sql::open_postgres(options));
}

TEST_P(MetadataStoreTest, UsersAndTokens) {
  auto dup = services_->identity().add_user("alice");
  ASSERT_FALSE(dup.has_value());
  EXPECT_EQ(dup.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_FALSE(services_->identity().add_user("bad/name").has_value());
  EXPECT_FALSE(services_->identity().add_user("").has_value());

  auto token = services_->identity().create_token("alice", "ci");
  ASSERT_TRUE(token.has_value());
  auto who = services_->identity().authenticate("Bearer " + *token);
  ASSERT_TRUE(who.has_value());
  EXPECT_EQ(who->name, "alice");
  std::string altered = *token;
  altered.back() = altered.back() == '0' ? '1' : '0';
  for (const std::string& bad : std::vector<std::string>{
           "", "Bearer ", "Basic abc", "Bearer cairn_nope", "Bearer " + altered}) {
    auto r = services_->identity().authenticate(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code(), ErrorCode::kUnauthenticated);
  }
  EXPECT_EQ(services_->identity().create_token("nobody", "").error().code(), ErrorCode::kNotFound);
}

// Expired and revoked tokens and disabled users are refused from the next request on, with the
// same answer as an unknown token.
TEST_P(MetadataStoreTest, TokensExpireAndAreRevokedAndUsersDisabled) {
  auto brief = services_->identity().create_token("alice", "brief", 3600);
  ASSERT_TRUE(brief.has_value());
  auto lasting = services_->identity().create_token("alice", "lasting");
  ASSERT_TRUE(lasting.has_value());
  EXPECT_TRUE(services_->identity().authenticate("Bearer " + *brief).has_value());
  clock_.now += 3601;
  EXPECT_EQ(services_->identity().authenticate("Bearer " + *brief).error().code(),
            ErrorCode::kUnauthenticated);
  EXPECT_TRUE(services_->identity().authenticate("Bearer " + *lasting).has_value());
  EXPECT_EQ(services_->identity().create_token("alice", "x", 0).error().code(),
            ErrorCode::kInvalidArgument);

  auto tokens = services_->identity().list_tokens("alice");
  ASSERT_TRUE(tokens.has_value());
  ASSERT_EQ(tokens->size(), 3u);  // initial, brief, lasting
  EXPECT_EQ(tokens->at(1).label, "brief");
  EXPECT_EQ(tokens->at(1).expires_at, std::optional<int64_t>(clock_.now - 1));
  const int64_t lasting_id = tokens->at(2).token_id;
  ASSERT_TRUE(services_->identity().revoke_token("alice", lasting_id));
  EXPECT_EQ(services_->identity().authenticate("Bearer " + *lasting).error().code(),
            ErrorCode::kUnauthenticated);
  const auto revoked_at = services_->identity().list_tokens("alice")->at(2).revoked_at;
  EXPECT_EQ(revoked_at, std::optional<int64_t>(clock_.now));
  clock_.now += 10;
  ASSERT_TRUE(
      services_->identity().revoke_token("alice", lasting_id));  // Twice: the first time stays.
  EXPECT_EQ(services_->identity().list_tokens("alice")->at(2).revoked_at, revoked_at);
  EXPECT_EQ(services_->identity().revoke_token("alice", 999999).error().code(),
            ErrorCode::kNotFound);
  // Another user's token id is not this user's to revoke.
  auto bob = services_->identity().add_user("bob");
  ASSERT_TRUE(bob.has_value());
  const int64_t bobs = services_->identity().list_tokens("bob")->at(0).token_id;
  EXPECT_EQ(services_->identity().revoke_token("alice", bobs).error().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(services_->identity().authenticate("Bearer " + bob->second).has_value());

  ASSERT_TRUE(services_->identity().set_user_disabled("bob", true));
  EXPECT_EQ(services_->identity().authenticate("Bearer " + bob->second).error().code(),
            ErrorCode::kUnauthenticated);
  ASSERT_TRUE(services_->identity().set_user_disabled("bob", false));
  EXPECT_TRUE(services_->identity().authenticate("Bearer " + bob->second).has_value());
  EXPECT_EQ(services_->identity().set_user_disabled("nobody", true).error().code(),
            ErrorCode::kNotFound);
}

TEST_P(MetadataStoreTest, VersionsUnchangedAndConflicts) {
  auto v1 = put_file("/docs/a.txt", "one", std::nullopt);
  EXPECT_EQ(v1.status, OpStatus::kOk);
  EXPECT_EQ(v1.version, 1);
  // Same bytes again: no new version, no conflict, whatever the base.
  auto same = put_file("/docs/a.txt", "one", std::nullopt);
  EXPECT_EQ(same.status, OpStatus::kUnchanged);
  EXPECT_EQ(same.version, 1);
  auto v2 = put_file("/docs/a.txt", "two", 1);
  EXPECT_EQ(v2.status, OpStatus::kOk);
  EXPECT_EQ(v2.version, 2);
  EXPECT_EQ(v2.node_id, v1.node_id);  // Identity survives edits.
  // An edit based on version 1 after version 2 exists: kept beside it as a conflicted copy.
  auto stale = put_file("/docs/a.txt", "three", 1);
  EXPECT_EQ(stale.status, OpStatus::kCopied);
  EXPECT_EQ(stale.copy, "/docs/a (conflicted copy from laptop 2027-01-15 080000).txt");
  auto listing = services_->files().list(ctx_, "/docs/a.txt");
  ASSERT_TRUE(listing.has_value());
  EXPECT_EQ(listing->entries.at(0).version, 2);
  EXPECT_EQ(listing->entries.at(0).size, 3u);
  // A new path with a stale base (deleted meanwhile) is created: the edit wins.
  EXPECT_EQ(put_file("/docs/new.txt", "x", 5, nullptr, /*node=*/987654).status, OpStatus::kOk);
}

TEST_P(MetadataStoreTest, FoldersPathsAndDeletes) {
  EXPECT_EQ(put_file("/a/b/c/deep.txt", "deep", std::nullopt).status, OpStatus::kOk);
  EXPECT_EQ(names("/"), std::vector<std::string>{"/a"});
  EXPECT_EQ(names("/a/b"), std::vector<std::string>{"/a/b/c"});
  EXPECT_EQ(op(OpKind::kMkdir, "/a/b").status, OpStatus::kUnchanged);
  EXPECT_EQ(op(OpKind::kMkdir, "/empty/nested").status, OpStatus::kOk);
  EXPECT_EQ(names("/empty"), std::vector<std::string>{"/empty/nested"});

  // A file in the way of a folder, and a folder in the way of a file.
  auto in_way = put_file("/a/b/c/deep.txt/x", "x", std::nullopt);
  EXPECT_EQ(in_way.status, OpStatus::kError);
  EXPECT_EQ(in_way.error_code, "already_exists");
  EXPECT_EQ(put_file("/a/b", "x", std::nullopt).status, OpStatus::kError);

  // Delete guarded by the base version: a stale delete loses to the edit.
  EXPECT_EQ(put_file("/a/b/c/deep.txt", "deeper", 1).version, 2);
  EXPECT_EQ(op(OpKind::kDelete, "/a/b/c/deep.txt", 1).status, OpStatus::kConflict);
  EXPECT_EQ(op(OpKind::kDelete, "/a/b/c/deep.txt", 2).status, OpStatus::kOk);
  EXPECT_EQ(op(OpKind::kDelete, "/a/b/c/deep.txt", 2).status, OpStatus::kUnchanged);
  EXPECT_TRUE(names("/a/b/c").empty());

  // Deleting a folder deletes everything under it; re-creating revives the same node.
  const auto before = put_file("/a/b/c/again.txt", "again", std::nullopt);
  EXPECT_EQ(op(OpKind::kDelete, "/a").status, OpStatus::kOk);
  EXPECT_EQ(names("/"), std::vector<std::string>{"/empty"});
  EXPECT_EQ(services_->files().list(ctx_, "/a").error().code(), ErrorCode::kNotFound);
  const auto after = put_file("/a/b/c/again.txt", "again 2", std::nullopt);
  EXPECT_EQ(after.node_id, before.node_id);
  EXPECT_EQ(after.version, 2);
  EXPECT_EQ(op(OpKind::kDelete, "/").status, OpStatus::kError);
}

TEST_P(MetadataStoreTest, CommitRequiresEveryChunk) {
  protocol::FileUpload f;
  f.path = "/missing.bin";
  f.chunks = {{sha256(as_bytes("never uploaded")), 14}};
  auto staged = services_->files().init_uploads(ctx_, {{f}, ""});
  ASSERT_TRUE(staged.has_value());
  ASSERT_EQ(staged->missing.size(), 1u);
  auto r = services_->files().commit(
      ctx_, {"laptop", {CommitOp::put_upload(staged->uploads[0].upload_id)}});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->results[0].status, OpStatus::kError);
  EXPECT_TRUE(names("/").empty());
  // Unknown or foreign upload ids are per-op errors too, and do not disturb other ops.
  auto mixed = services_->files().commit(
      ctx_, {"laptop", {CommitOp::put_upload("nope"), CommitOp::mkdir("/ok")}});
  ASSERT_TRUE(mixed.has_value());
  EXPECT_EQ(mixed->results[0].status, OpStatus::kError);
  EXPECT_EQ(mixed->results[1].status, OpStatus::kOk);
  EXPECT_EQ(names("/"), std::vector<std::string>{"/ok"});
}

TEST_P(MetadataStoreTest, APutCarryingItsFileCommitsWithoutASession) {
  const ChunkRef held = upload_chunk("held bytes", ctx_);
  const ChunkRef absent{sha256(as_bytes("never uploaded")), 14};
  auto file = [](const std::string& path, std::vector<ChunkRef> chunks) {
    protocol::FileUpload f;
    f.path = path;
    f.chunks = std::move(chunks);
    return CommitOp::put_file(f);
  };
  auto r = services_->files().commit(
      ctx_,
      {"laptop", {file("/dir/a.txt", {held}), file("/b.txt", {held, absent}), file("/empty", {})}});
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(r->results[0].status, OpStatus::kOk);
  EXPECT_EQ(r->results[0].version, 1);
  EXPECT_EQ(r->results[1].status, OpStatus::kError);  // A chunk it does not hold.
  EXPECT_NE(r->results[1].message.find(absent.hash.hex()), std::string::npos);
  EXPECT_EQ(r->results[2].status, OpStatus::kOk);
  EXPECT_EQ(names("/"), (std::vector<std::string>{"/dir", "/empty"}));

  // The manifest was stored with the version: the file reads back.
  auto listed = services_->files().list(ctx_, "/dir/a.txt");
  ASSERT_TRUE(listed.has_value());
  ASSERT_EQ(listed->entries.size(), 1u);
  auto manifest = services_->files().manifest(ctx_, listed->entries[0].manifest->hex());
  ASSERT_TRUE(manifest.has_value()) << manifest.error().message();
  EXPECT_EQ(Manifest::decode(*manifest)->chunks(), std::vector<ChunkRef>{held});

  // Sent again (an answer lost on the way): unchanged, not a second version.
  auto again = services_->files().commit(ctx_, {"laptop", {file("/dir/a.txt", {held})}});
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->results[0].status, OpStatus::kUnchanged);
  EXPECT_EQ(again->results[0].version, 1);

  // Bad paths are refused like staged ones, before anything is applied.
  auto bad =
      services_->files().commit(ctx_, {"laptop", {file("/ok.txt", {held}), file("/x/../y", {})}});
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(names("/"), (std::vector<std::string>{"/dir", "/empty"}));
}

TEST_P(MetadataStoreTest, ManifestsComeInOneBatchOnlyToThoseWhoMayReadThem) {
  put_file("/a.txt", "manifest one", std::nullopt);
  put_file("/b.txt", "manifest two", std::nullopt);
  auto manifest_of = [&](const std::string& path) {
    auto listed = services_->files().list(ctx_, path);
    EXPECT_TRUE(listed.has_value() && listed->entries.size() == 1);
    return *listed->entries[0].manifest;
  };
  const Digest a = manifest_of("/a.txt");
  const Digest b = manifest_of("/b.txt");
  // Staged but not committed: readable by its uploader only.
  protocol::FileUpload staged_file = file("/c.txt", upload_chunk("manifest three", ctx_));
  auto staged = services_->files().init_uploads(ctx_, {{staged_file}, ""});
  ASSERT_TRUE(staged.has_value());
  const Digest c = *Digest::from_hex(staged->uploads[0].manifest);
  const Digest unknown = sha256(as_bytes("no such manifest"));

  auto got = services_->files().manifests(ctx_, {{b, unknown, a, b, c}});
  ASSERT_TRUE(got.has_value()) << got.error().message();
  ASSERT_EQ(got->manifests.size(), 3u);  // Each once, in the order first asked; unknown left out.
  EXPECT_EQ(got->manifests[0].first, b);
  EXPECT_EQ(got->manifests[1].first, a);
  EXPECT_EQ(got->manifests[2].first, c);
  for (const auto& [digest, body] : got->manifests) EXPECT_EQ(sha256(body), digest);

  // Another user, and this user through a scope elsewhere, get none of them.
  auto bob = services_->identity().add_user("bob");
  ASSERT_TRUE(bob.has_value());
  const service::RequestContext bob_ctx{bob->first, "phone", clock_.now};
  auto foreign = services_->files().manifests(bob_ctx, {{a, b, c}});
  ASSERT_TRUE(foreign.has_value());
  EXPECT_TRUE(foreign->manifests.empty());
  auto scoped = metadata_->get_manifests(ctx_.user.user_id, {a, b, c}, "/elsewhere");
  ASSERT_TRUE(scoped.has_value());
  EXPECT_TRUE(scoped->empty());
  EXPECT_EQ(metadata_->get_manifest(ctx_.user.user_id, unknown).error().code(),
            ErrorCode::kNotFound);
}

TEST_P(MetadataStoreTest, ChunkKnowledgeIsPerUser) {
  const ChunkRef ref = upload_chunk("alice's bytes", ctx_);
  auto bob = services_->identity().add_user("bob");
  ASSERT_TRUE(bob.has_value());
  service::RequestContext bob_ctx{bob->first, "phone", clock_.now};
  auto for_alice = services_->chunks().check_chunks(ctx_, {{ref}, {}, {}});
  auto for_bob = services_->chunks().check_chunks(bob_ctx, {{ref}, {}, {}});
  EXPECT_TRUE(for_alice->missing.empty());
  EXPECT_EQ(for_bob->missing.size(), 1u);
  EXPECT_TRUE(services_->chunks().chunk_read(ctx_, ref.hash.hex()).has_value());
  EXPECT_EQ(services_->chunks().chunk_read(bob_ctx, ref.hash.hex()).error().code(),
            ErrorCode::kNotFound);

  // Manifests too: bob cannot read alice's file's manifest.
  auto put = put_file("/secret.txt", "alice's bytes", std::nullopt);
  auto listing = services_->files().list(ctx_, "/secret.txt");
  const std::string manifest = listing->entries.at(0).manifest->hex();
  EXPECT_TRUE(services_->files().manifest(ctx_, manifest).has_value());
  EXPECT_EQ(services_->files().manifest(bob_ctx, manifest).error().code(), ErrorCode::kNotFound);
  // And bob's namespace is his own.
  EXPECT_TRUE(services_->files().list(bob_ctx, "/")->entries.empty());
  (void)put;
}

TEST_P(MetadataStoreTest, ChangeFeedPagesEachNodeOnceInItsLatestState) {
  for (int i = 0; i < 7; ++i) put_file("/f" + std::to_string(i), "v" + std::to_string(i), {});
  put_file("/f0", "edited", 1);
  auto all = services_->files().changes(ctx_, "", 1000);
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(all->changes.size(), 7u);
  EXPECT_FALSE(all->has_more);
  EXPECT_EQ(all->changes.back().path, "/f0");  // Ordered by latest change.
  EXPECT_EQ(all->changes.back().version, 2);

  // Paging with a small limit visits every node exactly once.
  std::set<std::string> seen;
  std::string cursor;
  int pages = 0;
  while (true) {
    auto page = services_->files().changes(ctx_, cursor, 3);
    ASSERT_TRUE(page.has_value());
    for (const auto& e : page->changes) EXPECT_TRUE(seen.insert(e.path).second) << e.path;
    cursor = page->cursor;
    ++pages;
    if (!page->has_more) break;
  }
  EXPECT_EQ(seen.size(), 7u);
  EXPECT_EQ(pages, 3);

  // From the latest cursor: nothing, then only what changed, deletions included.
  EXPECT_TRUE(services_->files().changes(ctx_, all->cursor, 100)->changes.empty());
  op(OpKind::kDelete, "/f3");
  auto delta = services_->files().changes(ctx_, all->cursor, 100);
  ASSERT_EQ(delta->changes.size(), 1u);
  EXPECT_EQ(delta->changes[0].path, "/f3");
  EXPECT_TRUE(delta->changes[0].deleted);

  // Unknown or future cursors reset to a full listing instead of failing.
  for (const std::string bad : {"garbage", "c1.999.3", "c1.1.999999"}) {
    auto reset = services_->files().changes(ctx_, bad, 100);
    ASSERT_TRUE(reset.has_value()) << bad;
    EXPECT_TRUE(reset->reset) << bad;
    EXPECT_EQ(reset->changes.size(), 7u) << bad;
  }
}

TEST_P(MetadataStoreTest, UploadSessionsExpire) {
  protocol::FileUpload f;
  f.path = "/later.txt";
  f.chunks = {upload_chunk("later", ctx_)};
  auto staged = services_->files().init_uploads(ctx_, {{f}, ""});
  ASSERT_TRUE(staged.has_value());
  clock_.now += 25 * 3600;
  EXPECT_EQ(*services_->maintenance().collect_expired_uploads(), 1);
  service::RequestContext later = ctx_;
  later.now = clock_.now;
  auto r = services_->files().commit(
      later, {"laptop", {CommitOp::put_upload(staged->uploads[0].upload_id)}});
  EXPECT_EQ(r->results[0].status, OpStatus::kError);
  EXPECT_EQ(r->results[0].error_code, "not_found");
}

TEST_P(MetadataStoreTest, RejectsBadPathsAndBatches) {
  for (const std::string& bad :
       std::vector<std::string>{"/a/../b", "/a//b", std::string("/a\0b", 4), "/"}) {
    protocol::FileUpload f;
    f.path = bad;
    auto r = services_->files().init_uploads(ctx_, {{f}, ""});
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  }
  protocol::InitUploadsRequest many;
  many.files.resize(1001);
  for (size_t i = 0; i < many.files.size(); ++i) many.files[i].path = "/f" + std::to_string(i);
  EXPECT_EQ(services_->files().init_uploads(ctx_, many).error().code(), ErrorCode::kTooLarge);
  EXPECT_TRUE(names("/").empty());
}

// Writers racing on one namespace: each creates the same parent folder and its own child. On
// PostgreSQL the losers of each race are aborted (serialisation failure or unique violation) and
// retried; every commit must land exactly once and the journal must stay gap-free.
TEST_P(MetadataStoreTest, ConcurrentCommitsAllLand) {
  constexpr int kThreads = 4;
  constexpr int kEach = 8;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        Actor a = ctx_.actor();
        a.device = "thread";
        const std::string path = "/shared/t" + std::to_string(t) + "_" + std::to_string(i);
        store::TreeOp mkdir;
        mkdir.kind = store::OpKind::kMkdir;
        mkdir.path = path;
        auto r = metadata_->commit(a, {mkdir});
        if (r && r->at(0).status == store::OpStatus::kOk) {
          ++ok;
        } else {
          ++failed;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads * kEach);
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(names("/shared").size(), static_cast<size_t>(kThreads * kEach));
  auto page = metadata_->changes(ctx_.actor(), {}, 1000);
  ASSERT_TRUE(page.has_value());
  // One entry per folder plus /shared; one journal entry per creation.
  EXPECT_EQ(page->entries.size(), static_cast<size_t>(kThreads * kEach + 1));
  EXPECT_EQ(page->cursor.at(0), kThreads * kEach + 1);
}

// Opening a store that is already set up joins it: nothing is migrated twice, nothing is lost.
TEST_P(MetadataStoreTest, ReopeningJoinsTheExistingStore) {
  const std::string location = postgres_ ? postgres_->url() : dir_.path() + "/metadata.db";
  auto again = open_metadata_store(location, false);
  ASSERT_TRUE(again.has_value()) << again.error().message();
  auto alice = (*again)->find_user("alice");
  ASSERT_TRUE(alice.has_value());
  EXPECT_EQ(alice->user_id, ctx_.user.user_id);
  EXPECT_EQ(*(*again)->get_or_init_setting("k", "first"), "first");
  EXPECT_EQ(*metadata_->get_or_init_setting("k", "second"), "first");
}

// Migrations written once for both engines give each its own column types: BIGINT, BYTEA and
// identity columns on PostgreSQL; INTEGER (a rowid alias for ids), BLOB and WITHOUT ROWID on
// SQLite. No placeholder reaches either database.
TEST_P(MetadataStoreTest, SharedMigrationsGiveEachEngineItsTypes) {
  auto raw =
      open_raw(postgres_ ? postgres_->url() : dir_.path() + "/metadata.db", postgres_.has_value());
  std::vector<std::string> found;
  auto read = raw->transact(sql::TxMode::kRead, [&](sql::Session& q) -> Result<void> {
    found.clear();
    if (postgres_) {
      for (const char* column :
           {"shares.share_id", "links.link_id", "pack_chunks.hash", "pack_chunks.pack_offset"}) {
        const std::string c(column);
        const size_t dot = c.find('.');
        CAIRN_ASSIGN_OR_RETURN(
            auto r,
            q.query("SELECT data_type || ' ' || is_identity FROM information_schema.columns "
                    "WHERE table_name = ?1 AND column_name = ?2",
                    c.substr(0, dot), c.substr(dot + 1)));
        found.push_back(r.empty() ? "absent" : r[0].get_text(0));
      }
      return {};
    }
    for (const char* table : {"shares", "links", "pack_chunks"}) {
      CAIRN_ASSIGN_OR_RETURN(auto r,
                             q.query("SELECT sql FROM sqlite_master WHERE name = ?1", table));
      found.push_back(r.empty() ? "absent" : r[0].get_text(0));
    }
    CAIRN_ASSIGN_OR_RETURN(auto left,
                           q.query("SELECT COUNT(*) FROM sqlite_master WHERE sql LIKE '%{%'"));
    found.push_back(std::to_string(left[0].get_int(0)));
    return {};
  });
  ASSERT_TRUE(read.has_value()) << read.error().message();
  if (postgres_) {
    EXPECT_EQ(found,
              (std::vector<std::string>{"bigint YES", "bigint YES", "bytea NO", "bigint NO"}));
    return;
  }
  ASSERT_EQ(found.size(), 4u);
  EXPECT_NE(found[0].find("share_id INTEGER PRIMARY KEY,"), std::string::npos) << found[0];
  EXPECT_NE(found[1].find("link_id INTEGER PRIMARY KEY,"), std::string::npos) << found[1];
  EXPECT_NE(found[2].find("hash BLOB NOT NULL"), std::string::npos) << found[2];
  EXPECT_NE(found[2].find("WITHOUT ROWID"), std::string::npos) << found[2];
  EXPECT_EQ(found[3], "0");
}

// Statements are written with numbered parameters; SQLite compiles a long one whose parameters
// come once each and in order with anonymous ones instead (sqlite_database.cpp). Each value
// must still land where its number says, a '?' inside a quoted literal stays text, and a
// statement that names a parameter twice, or out of order, keeps its numbers.
TEST_P(MetadataStoreTest, ManyParametersBindWhereTheirNumbersSay) {
  auto raw =
      open_raw(postgres_ ? postgres_->url() : dir_.path() + "/metadata.db", postgres_.has_value());
  auto values = [&](const std::string& text,
                    const std::vector<sql::Value>& params) -> std::vector<std::string> {
    std::vector<std::string> out;
    auto read = raw->transact(sql::TxMode::kRead, [&](sql::Session& q) -> Result<void> {
      out.clear();
      CAIRN_ASSIGN_OR_RETURN(auto r, q.run(text, params));
      for (size_t i = 0; i < r.size(); ++i) out.push_back(r[i].get_text(0));
      return {};
    });
    EXPECT_TRUE(read.has_value()) << read.error().message();
    return out;
  };
  std::vector<sql::Value> params;
  std::vector<std::string> expected{"?7 is text, 'quoted'"};
  std::string rows;
  for (int i = 1; i <= 200; ++i) {
    params.push_back(sql::to_value("v" + std::to_string(i)));
    expected.push_back("v" + std::to_string(i));
    if (i > 2) rows += ", (?" + std::to_string(i) + ")";
  }
  const std::string literal = "VALUES ('?7 is text, ''quoted''')";
  EXPECT_EQ(values(literal + ", (?1), (?2)" + rows, params), expected);
  // ?1 named again at the end.
  auto again = expected;
  again.push_back("v1");
  EXPECT_EQ(values(literal + ", (?1), (?2)" + rows + ", (?1)", params), again);
  // ?2 before ?1.
  auto swapped = expected;
  std::swap(swapped[1], swapped[2]);
  EXPECT_EQ(values(literal + ", (?2), (?1)" + rows, params), swapped);
}

// A store written at schema 2 (before closure, versions and journal became WITHOUT ROWID on
// SQLite, and before the trash and quotas) opens at the latest schema with everything in it
// intact and usable. The old store is written with SQL of its own time: today's code writes
// today's schema.
TEST_P(MetadataStoreTest, UpgradesFromSchemaTwoKeepEverything) {
  std::optional<testing::ScratchPostgres> scratch;
  std::string location = dir_.path() + "/upgrade.db";
  if (postgres_) location = scratch.emplace().url();
  {
    auto opened = open_metadata_store(location, true, 2);
    ASSERT_TRUE(opened.has_value()) << opened.error().message();
  }
  {
    auto raw = open_raw(location, postgres_.has_value());
    const Manifest one({{sha256(as_bytes("one")), 3}});
    const Manifest two({{sha256(as_bytes("two")), 3}});
    auto written = raw->transact(sql::TxMode::kWrite, [&](sql::Session& q) -> Result<void> {
      const int64_t t = 1'700'000'000;
      CAIRN_RETURN_IF_ERROR(
          q.query("INSERT INTO users(user_id, name, home_namespace_id, created_at) VALUES (1000, "
                  "'carol', 1000, ?1)",
                  t));
      CAIRN_RETURN_IF_ERROR(q.query(
          "INSERT INTO namespaces(namespace_id, owner_id, root_node_id, last_seq, created_at) "
          "VALUES (1000, 1000, 1000, 5, ?1)",
          t));
      // Root 1000, /a 1001, /a/b 1002, /a/b/f.txt 1003, /a/empty 1004.
      const int64_t nodes[][4] = {
          {1001, 1000, 1, 0}, {1002, 1001, 1, 0}, {1003, 1002, 0, 2}, {1004, 1001, 1, 0}};
      const char* names[] = {"a", "b", "f.txt", "empty"};
      CAIRN_RETURN_IF_ERROR(
          q.query("INSERT INTO nodes(node_id, namespace_id, parent_id, name, kind, head_seq, "
                  "created_at) VALUES (1000, 1000, NULL, '', 1, 0, ?1)",
                  t));
      for (size_t i = 0; i < 4; ++i) {
        CAIRN_RETURN_IF_ERROR(
            q.query("INSERT INTO nodes(node_id, namespace_id, parent_id, name, kind, head_seq, "
                    "created_at) VALUES (?1, 1000, ?2, ?3, ?4, ?5, ?6)",
                    nodes[i][0], nodes[i][1], std::string(names[i]), nodes[i][2], nodes[i][3], t));
      }
      const int64_t closure[][3] = {
          {1000, 1000, 0}, {1001, 1001, 0}, {1000, 1001, 1}, {1002, 1002, 0}, {1001, 1002, 1},
          {1000, 1002, 2}, {1003, 1003, 0}, {1002, 1003, 1}, {1001, 1003, 2}, {1000, 1003, 3},
          {1004, 1004, 0}, {1001, 1004, 1}, {1000, 1004, 2}};
      for (const auto& c : closure) {
        CAIRN_RETURN_IF_ERROR(
            q.query("INSERT INTO closure(namespace_id, ancestor, descendant, depth) VALUES "
                    "(1000, ?1, ?2, ?3)",
                    c[0], c[1], c[2]));
      }
      for (const Manifest* m : {&one, &two}) {
        CAIRN_RETURN_IF_ERROR(
            q.query("INSERT INTO manifests(manifest_hash, body, size, chunk_count) VALUES (?1, "
                    "?2, 3, 1)",
                    m->address().bytes(), ByteView(m->encode())));
      }
      for (int64_t seq = 1; seq <= 2; ++seq) {
        const Manifest& m = seq == 1 ? one : two;
        CAIRN_RETURN_IF_ERROR(q.query(
            "INSERT INTO versions(namespace_id, node_id, seq, manifest_hash, size, executable, "
            "mtime_ns, author_id, device, created_at) VALUES (1000, 1003, ?1, ?2, 3, ?4, 0, "
            "1000, 'laptop', ?3)",
            seq, m.address().bytes(), t, int64_t{seq == 2 ? 1 : 0}));
      }
      const int64_t journal[][2] = {{1, 1001}, {2, 1002}, {3, 1003}, {4, 1003}, {5, 1004}};
      for (const auto& j : journal) {
        CAIRN_RETURN_IF_ERROR(
            q.query("INSERT INTO journal(namespace_id, seq, node_id, op, created_at) VALUES "
                    "(1000, ?1, ?2, 'put', ?3)",
                    j[0], j[1], t));
      }
      return {};
    });
    ASSERT_TRUE(written.has_value()) << written.error().message();
  }
  auto use = [&]() {
    services_.reset();
    auto opened = open_metadata_store(location, true);
    ASSERT_TRUE(opened.has_value()) << opened.error().message();
    metadata_ = std::move(*opened);
    services_ = std::make_unique<service::Services>(*metadata_, *blobs_, service::ServiceConfig{},
                                                    Bytes(32, std::byte{7}), clock_);
  };
  use();
  auto carol = metadata_->find_user("carol");
  ASSERT_TRUE(carol.has_value()) << carol.error().message();
  ctx_ = {*carol, "laptop", clock_.now};
  // What the old schema held, as the old code listed it.
  const std::vector<std::string> before_paths{"/a", "/a/b", "/a/b/f.txt", "/a/empty"};

  auto listed = services_->files().list(ctx_, "/a/b/f.txt");
  ASSERT_TRUE(listed.has_value()) << listed.error().message();
  ASSERT_EQ(listed->entries.size(), 1u);
  EXPECT_EQ(listed->entries[0].version, 2);
  // Schema 9 turned the executable flag into permission bits: what the flag meant.
  EXPECT_EQ(listed->entries[0].mode, 0755u);
  auto history = services_->files().history(ctx_, "/a/b/f.txt", 0);
  ASSERT_TRUE(history.has_value()) << history.error().message();
  ASSERT_EQ(history->versions.size(), 2u);
  EXPECT_EQ(history->versions[1].mode, 0644u);
  auto folders = services_->files().list(ctx_, "/a");
  ASSERT_TRUE(folders.has_value());
  for (const auto& e : folders->entries) EXPECT_EQ(e.mode, 0755u) << e.path;
  EXPECT_EQ(names("/a"), (std::vector<std::string>{"/a/b", "/a/empty"}));
  // Schema 4 counted what the user stores against the quota: the head of f.txt.
  EXPECT_EQ(services_->files().quota(ctx_)->used, 3u);
  // The change feed (journal) resumes where it was, with the same paths (closure).
  auto after = services_->files().changes(ctx_, "", 100);
  ASSERT_TRUE(after.has_value());
  ASSERT_EQ(after->changes.size(), before_paths.size());
  for (size_t i = 0; i < after->changes.size(); ++i) {
    EXPECT_EQ(after->changes[i].path, before_paths[i]);
  }
  auto resumed = services_->files().changes(ctx_, after->cursor, 100);
  ASSERT_TRUE(resumed.has_value());
  EXPECT_TRUE(resumed->changes.empty());
  // Schema 13 gave each node's latest journal entry the node's state: the tree "at now" is the
  // tree now, and the log names every change; before the upgrade the past is not known.
  auto at_now = services_->files().list(ctx_, "/a", true, clock_.now * 1000);
  ASSERT_TRUE(at_now.has_value()) << at_now.error().message();
  std::vector<std::string> then_paths;
  for (const auto& e : at_now->entries) then_paths.push_back(e.path);
  EXPECT_EQ(then_paths, (std::vector<std::string>{"/a/b", "/a/empty", "/a/b/f.txt"}));
  EXPECT_EQ(at_now->entries.back().version, 2);
  auto too_early = services_->files().list(ctx_, "/a", true, int64_t{1'700'000'000'000});
  ASSERT_FALSE(too_early.has_value());
  EXPECT_EQ(too_early.error().code(), ErrorCode::kInvalidArgument);
  auto log = services_->files().log(ctx_, "/a", {0, 0, 100});
  ASSERT_TRUE(log.has_value()) << log.error().message();
  ASSERT_EQ(log->entries.size(), 5u);
  EXPECT_EQ(log->entries[1].path, "/a/b/f.txt");
  EXPECT_EQ(log->entries[2].path, "/a/b/f.txt");
  // New writes land on the rebuilt tables: a third version, a file in a new folder, a delete.
  EXPECT_EQ(put_file("/a/b/f.txt", "three", 2).version, 3);
  EXPECT_EQ(put_file("/a/c/g.txt", "g", std::nullopt).status, OpStatus::kOk);
  EXPECT_EQ(op(OpKind::kDelete, "/a/b").status, OpStatus::kOk);
  EXPECT_EQ(names("/a"), (std::vector<std::string>{"/a/c", "/a/empty"}));
  // What was deleted is in the trash, and comes back.
  auto bin = services_->files().trash(ctx_);
  ASSERT_TRUE(bin.has_value());
  ASSERT_EQ(bin->entries.size(), 1u);
  EXPECT_EQ(bin->entries[0].path, "/a/b");
  auto back =
      services_->files().commit(ctx_, {"laptop", {CommitOp::undelete(bin->entries[0].node_id)}});
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->results.at(0).status, OpStatus::kOk);
  EXPECT_EQ(services_->files().list(ctx_, "/a/b/f.txt")->entries.at(0).version, 3);
}

TEST_P(MetadataStoreTest, PackLocationsServeTheirReadersAndPreferNeighbours) {
  const int64_t alice = ctx_.user.user_id;
  auto bob = services_->identity().add_user("bob");
  ASSERT_TRUE(bob.has_value());
  const int64_t bob_id = bob->first.user_id;
  auto entry = [](const std::string& text, uint64_t offset) {
    return PackEntry{sha256(as_bytes(text)), Codec::kRaw, static_cast<uint32_t>(text.size()),
                     static_cast<uint32_t>(text.size()), offset};
  };
  const PackEntry a = entry("a", 10);
  const PackEntry b = entry("bb", 11);
  const PackEntry c = entry("ccc", 13);
  const Digest p1 = sha256(as_bytes("pack one"));
  const Digest p2 = sha256(as_bytes("pack two"));
  const Digest p3 = sha256(as_bytes("pack three"));
  // Alice's verified pack holds a and b; Bob's unverified one holds a and c; a third pack of
  // Alice's (unverified) holds c alone.
  ASSERT_TRUE(metadata_->record_pack(alice, p1, 100, true, {a, b}, clock_.now));
  ASSERT_TRUE(metadata_->record_pack(alice, p1, 100, true, {a, b}, clock_.now));  // Idempotent.
  ASSERT_TRUE(metadata_->record_pack(bob_id, p2, 100, false, {a, c}, clock_.now));
  ASSERT_TRUE(metadata_->record_pack(alice, p3, 100, false, {c}, clock_.now));

  auto held = metadata_->user_has_chunks(alice, {a.hash, b.hash, c.hash});
  EXPECT_EQ(*held, (std::vector<bool>{true, true, true}));
  auto mine = metadata_->locate_chunks(alice, {a.hash, b.hash, c.hash, sha256(as_bytes("x"))});
  ASSERT_TRUE(mine.has_value()) << mine.error().message();
  ASSERT_EQ(mine->size(), 3u);
  EXPECT_EQ((*mine)[0].pack, p1);
  EXPECT_EQ((*mine)[0].offset, 10u);
  EXPECT_EQ((*mine)[1].pack, p1);
  EXPECT_EQ((*mine)[1].stored_length, 2u);
  EXPECT_EQ((*mine)[2].pack, p3);  // Never Bob's unverified p2.

  // Bob reads a from his own pack, or Alice's verified one: both are fine; c only from his own.
  // He does not hold b at all.
  auto his = metadata_->locate_chunks(bob_id, {a.hash, b.hash, c.hash});
  ASSERT_TRUE(his.has_value());
  ASSERT_EQ(his->size(), 2u);
  EXPECT_EQ((*his)[0].hash, a.hash);
  EXPECT_EQ((*his)[0].pack, p2);  // The pack holding most of what he asked for.
  EXPECT_EQ((*his)[1].pack, p2);
}

// A pack the daemon never saw (S3) is a claim: it lets its uploader commit and read the chunks
// it lists from that pack alone, never from a copy someone else stored, and a file committed
// with such a chunk grants its readers that pack alone. A claim gc verified becomes a holding.
TEST_P(MetadataStoreTest, AClaimedChunkReachesOnlyTheClaimantsPack) {
  const int64_t alice = ctx_.user.user_id;
  auto bob = services_->identity().add_user("bob");
  auto carol = services_->identity().add_user("carol");
  ASSERT_TRUE(bob.has_value() && carol.has_value());
  const service::RequestContext bob_ctx{bob->first, "bobs", clock_.now};
  const std::string secret = "alice's secret chunk";
  const Digest h = sha256(as_bytes(secret));
  const auto n = static_cast<uint32_t>(secret.size());
  ASSERT_TRUE(metadata_->record_chunk(alice, h, n, clock_.now));
  const Digest junk = sha256(as_bytes("bob's junk pack"));
  ASSERT_TRUE(metadata_->record_pack(bob->first.user_id, junk, 500, false,
                                     {PackEntry{h, Codec::kRaw, n, n, 0}}, clock_.now));

  EXPECT_EQ(*metadata_->user_has_chunks(bob->first.user_id, {h}), std::vector<bool>{true});
  auto his = metadata_->locate_chunks(bob->first.user_id, {h});
  ASSERT_TRUE(his.has_value()) << his.error().message();
  ASSERT_EQ(his->size(), 1u);
  EXPECT_EQ((*his)[0].pack, junk);  // Never alice's object.
  auto hers = metadata_->locate_chunks(alice, {h});
  ASSERT_EQ(hers->size(), 1u);
  EXPECT_FALSE((*hers)[0].pack.has_value());

  // Bob commits a file of it and shares it with carol: she reads bob's pack, not alice's object.
  protocol::FileUpload f;
  f.path = "/claimed.bin";
  f.chunks = {ChunkRef{h, n}};
  auto done = services_->files().commit(bob_ctx, {"bobs", {CommitOp::put_file(f)}});
  ASSERT_TRUE(done.has_value()) << done.error().message();
  ASSERT_EQ(done->results.at(0).status, OpStatus::kOk) << done->results.at(0).message;
  ASSERT_TRUE(services_->sharing().share(bob_ctx, {"/claimed.bin", "carol", "viewer"}));
  const Digest manifest = sha256(Manifest(f.chunks).encode());
  auto granted = metadata_->locate_chunks(carol->first.user_id, {h}, {manifest});
  ASSERT_TRUE(granted.has_value()) << granted.error().message();
  ASSERT_EQ(granted->size(), 1u);
  EXPECT_EQ((*granted)[0].pack, junk);
  // A staged manifest grants nothing: dave, with whom nothing is shared, stages the same list.
  auto dave = services_->identity().add_user("dave");
  ASSERT_TRUE(dave.has_value());
  auto staged = services_->files().init_uploads({dave->first, "d", clock_.now}, {{f}, ""});
  ASSERT_TRUE(staged.has_value()) << staged.error().message();
  EXPECT_EQ(staged->uploads[0].manifest, manifest.hex());
  EXPECT_TRUE(metadata_->locate_chunks(dave->first.user_id, {h}, {manifest})->empty());
  EXPECT_FALSE(metadata_->get_manifest(carol->first.user_id, manifest, "/elsewhere").has_value());
  EXPECT_TRUE(metadata_->get_manifest(carol->first.user_id, manifest, "/Shared").has_value());

  // gc rewrites bob's pack, verifying what it copies: his claim proved true, he holds it now.
  const Digest fresh = sha256(as_bytes("rewritten"));
  ASSERT_TRUE(metadata_->gc_replace_packs({junk}, fresh, 500, {PackEntry{h, Codec::kRaw, n, n, 0}},
                                          clock_.now));
  auto after = metadata_->locate_chunks(bob->first.user_id, {h});
  ASSERT_EQ(after->size(), 1u);
  EXPECT_FALSE((*after)[0].pack.has_value());  // Any verified copy: the object first.
}

// A pack gc emptied and retired waits for its object to be deleted: the same pack uploaded
// again (a replay: packs carry a nonce, so honest clients never repeat one) is refused rather
// than recorded in an object about to go.
TEST_P(MetadataStoreTest, ARetiredPackIsNotRecordedAgain) {
  const int64_t alice = ctx_.user.user_id;
  const PackEntry a{sha256(as_bytes("a")), Codec::kRaw, 1, 1, 0};
  const Digest old_pack = sha256(as_bytes("old pack"));
  ASSERT_TRUE(metadata_->record_pack(alice, old_pack, 10, true, {a}, clock_.now));
  ASSERT_TRUE(
      metadata_->gc_replace_packs({old_pack}, sha256(as_bytes("new pack")), 10, {a}, clock_.now));
  auto again = metadata_->record_pack(alice, old_pack, 10, true, {a}, clock_.now);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code(), ErrorCode::kConflict);
  auto chunks = metadata_->gc_pack_chunks(old_pack);
  ASSERT_TRUE(chunks.has_value());
  EXPECT_TRUE(chunks->empty());
}

// A read of a range of a pack verifies the chunks that start in it, and only those, each with
// the XXH3 of its stored bytes when the daemon recorded one (any 64-bit value; 0 for none).
TEST_P(MetadataStoreTest, APacksChunksComeByTheRangeTheyStartIn) {
  const int64_t alice = ctx_.user.user_id;
  std::vector<PackEntry> entries;
  const std::vector<uint64_t> xxh3s = {0, 1, 0x8000000000000000u, UINT64_MAX, 0x0123456789abcdefu};
  for (uint32_t i = 0; i < 5; ++i) {
    entries.push_back(
        {sha256(as_bytes("c" + std::to_string(i))), Codec::kRaw, 100, 100, i * 100, xxh3s[i]});
  }
  const Digest pack = sha256(as_bytes("pack of five"));
  ASSERT_TRUE(metadata_->record_pack(alice, pack, 500, true, entries, clock_.now));
  auto offsets = [&](uint64_t offset, uint64_t length) {
    auto got = metadata_->pack_chunks_in(pack, offset, length);
    EXPECT_TRUE(got.has_value()) << got.error().message();
    std::vector<uint64_t> out;
    if (got) {
      for (const auto& l : *got) out.push_back(l.offset);
    }
    return out;
  };
  EXPECT_EQ(offsets(0, 500), (std::vector<uint64_t>{0, 100, 200, 300, 400}));
  auto all = metadata_->pack_chunks_in(pack, 0, 500);
  ASSERT_TRUE(all.has_value());
  std::vector<uint64_t> kept;
  for (const auto& l : *all) kept.push_back(l.stored_xxh3);
  EXPECT_EQ(kept, xxh3s);
  auto located = metadata_->locate_chunks(alice, {entries[2].hash, entries[3].hash});
  ASSERT_TRUE(located.has_value());
  ASSERT_EQ(located->size(), 2u);
  EXPECT_EQ((*located)[0].stored_xxh3, xxh3s[2]);
  EXPECT_EQ((*located)[1].stored_xxh3, xxh3s[3]);
  EXPECT_EQ(offsets(100, 200), (std::vector<uint64_t>{100, 200}));
  EXPECT_EQ(offsets(150, 100), (std::vector<uint64_t>{200}));  // 100 started before it.
  EXPECT_EQ(offsets(400, UINT64_MAX), (std::vector<uint64_t>{400}));
  EXPECT_TRUE(offsets(500, 100).empty());
  EXPECT_TRUE(offsets(UINT64_MAX, 1).empty());
  EXPECT_EQ(metadata_->gc_pack_chunks(pack)->size(), 5u);
}

// The embedded engine: a read runs on a connection of its own and sees the last committed
// state while a write transaction is open, instead of waiting for it to end.
TEST(SqliteDatabaseTest, ReadsDoNotWaitForAnOpenWrite) {
  testing::TempDir dir;
  auto db = sql::open_sqlite(dir.path() + "/db.sqlite", /*create=*/true);
  ASSERT_TRUE(db.has_value()) << db.error().message();
  ASSERT_TRUE((*db)->transact(sql::TxMode::kWrite, [](sql::Session& s) {
    return s.exec("CREATE TABLE t(x INTEGER); INSERT INTO t VALUES (1)");
  }));

  std::promise<void> inside;
  std::promise<void> release;
  std::thread writer([&] {
    auto written = (*db)->transact(sql::TxMode::kWrite, [&](sql::Session& s) -> Result<void> {
      CAIRN_RETURN_IF_ERROR(s.exec("INSERT INTO t VALUES (2)"));
      inside.set_value();
      release.get_future().wait();
      return {};
    });
    EXPECT_TRUE(written.has_value());
  });
  inside.get_future().wait();
  auto read = std::async(std::launch::async, [&] {
    return sql::transact(**db, sql::TxMode::kRead, [](sql::Session& s) -> Result<int64_t> {
      CAIRN_ASSIGN_OR_RETURN(auto r, s.query("SELECT COUNT(*) FROM t"));
      return r[0].get_int(0);
    });
  });
  const bool answered = read.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  release.set_value();
  writer.join();
  ASSERT_TRUE(answered) << "the read waited for the write transaction";
  auto count = read.get();
  ASSERT_TRUE(count.has_value()) << count.error().message();
  EXPECT_EQ(*count, 1);  // The snapshot before the open write.
  auto after = sql::transact(**db, sql::TxMode::kRead, [](sql::Session& s) -> Result<int64_t> {
    CAIRN_ASSIGN_OR_RETURN(auto r, s.query("SELECT COUNT(*) FROM t"));
    return r[0].get_int(0);
  });
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(*after, 2);
}

// The embedded engine checkpoints its WAL on a thread of its own, and keeps it bounded when
// commits never pause: of 100 MiB committed back to back, all but what the WAL may hold at rest
// ends up in the database file, and the WAL never grows far past the 64 MiB at which a commit
// checkpoints it itself. At rest the WAL may keep up to one checkpoint interval (16 MiB of
// pages): once a checkpoint has copied everything, the WAL restarts, and the last commits stay
// in it until it grows past that again. (The bound was 90% of 100 MiB, which a CI run missed by
// 0.8 MB: 93.6 MB copied back, the rest legitimately in the WAL.)
TEST(SqliteDatabaseTest, TheWalIsCopiedBackAndStaysBoundedUnderSustainedCommits) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/db.sqlite";
  auto db = sql::open_sqlite(path, /*create=*/true);
  ASSERT_TRUE(db.has_value()) << db.error().message();
  ASSERT_TRUE((*db)->transact(sql::TxMode::kWrite,
                              [](sql::Session& s) { return s.exec("CREATE TABLE t(x BLOB)"); }));
  constexpr int kCommits = 100;
  constexpr int64_t kPerCommit = 1 << 20;
  for (int i = 0; i < kCommits; ++i) {
    ASSERT_TRUE((*db)->transact(sql::TxMode::kWrite, [&](sql::Session& s) {
      return s.exec("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < " +
                    std::to_string(kPerCommit / 4000) +
                    ") INSERT INTO t SELECT randomblob(4000) FROM n");
    }));
  }
  const auto size_of = [](const std::string& file) {
    std::error_code ec;
    const auto n = std::filesystem::file_size(file, ec);
    return ec ? uint64_t{0} : static_cast<uint64_t>(n);
  };
  constexpr uint64_t kAtRestInWal = uint64_t{16} << 20;  // Checkpointer::kCheckpointPages pages.
  constexpr uint64_t kCopiedBack =
      static_cast<uint64_t>(kCommits * kPerCommit) - kAtRestInWal - (uint64_t{4} << 20);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (size_of(path) < kCopiedBack && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_GE(size_of(path), kCopiedBack) << "the WAL was not copied back";
  EXPECT_LE(size_of(path + "-wal"), uint64_t{80} << 20) << "the WAL grew without bound";
}

INSTANTIATE_TEST_SUITE_P(All, MetadataStoreTest,
                         ::testing::Values(Backend{"Sqlite", ""}, Backend{"Postgres", "postgres"}),
                         backend_name);

}  // namespace
}  // namespace cairn::store::conformance
