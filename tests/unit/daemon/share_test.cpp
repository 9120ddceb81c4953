// Shares (viewer and editor roles, mounts, the change feed of a shared folder), token scopes and
// the in-transaction token check, on every metadata backend.

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "common/manifest.h"
#include "tests/unit/daemon/metadata_store_fixture.h"

namespace cairn::store::conformance {
namespace {

class ShareTest : public MetadataStoreTest {
 protected:
  void SetUp() override {
    MetadataStoreTest::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    auto made = services_->identity().add_user("bob");
    ASSERT_TRUE(made.has_value());
    bob_token_ = made->second;
    bob_ = signed_in(bob_token_);
    auto carol = services_->identity().add_user("carol");
    ASSERT_TRUE(carol.has_value());
    carol_ = signed_in(carol->second);
  }

  // A context as a request with `token` gets it: with the token's hash and scope.
  service::RequestContext signed_in(const std::string& token) {
    auto user = services_->identity().authenticate("Bearer " + token);
    EXPECT_TRUE(user.has_value()) << user.error().message();
    return {user ? *user : User{}, "device", clock_.now};
  }

  Result<protocol::CommitResponse> commit(const service::RequestContext& ctx,
                                          std::vector<CommitOp> ops) {
    return services_->files().commit(ctx, {"device", std::move(ops)});
  }

  std::vector<std::string> names_as(const service::RequestContext& ctx, const std::string& path) {
    auto l = services_->files().list(ctx, path);
    EXPECT_TRUE(l.has_value()) << path << ": " << l.error().message();
    std::vector<std::string> out;
    if (l) {
      for (const auto& e : l->entries) out.push_back(e.path);
    }
    return out;
  }

  // Everything of alice's a refused request must leave alone: her tree, its versions and her
  // feed's position.
  std::string alice_state() {
    std::string out;
    auto feed = services_->files().changes(ctx_, "", 5000);
    EXPECT_TRUE(feed.has_value());
    for (const auto& e : feed->changes) {
      out += e.path + " v" + std::to_string(e.version) + (e.deleted ? " deleted" : "") + "\n";
    }
    return out + feed->cursor;
  }

  void share(const std::string& path, const std::string& user, const std::string& role) {
    auto s = services_->sharing().share(ctx_, {path, user, role});
    ASSERT_TRUE(s.has_value()) << s.error().message();
  }

  std::string bob_token_;
  service::RequestContext bob_;
  service::RequestContext carol_;
};

TEST_P(ShareTest, AViewerSeesAndReadsTheFolderAndChangesNothing) {
  const ChunkRef chunk = upload_chunk("project notes", ctx_);
  ASSERT_TRUE(commit(ctx_, {CommitOp::put_file(file("/proj/notes.txt", chunk)),
                            CommitOp::put_file(file("/private/diary.txt", chunk))}));
  share("/proj", "bob", "viewer");

  // Bob finds it under /Shared, marked with his role and its owner.
  auto root = services_->files().list(bob_, "/Shared");
  ASSERT_TRUE(root.has_value());
  ASSERT_EQ(root->entries.size(), 1u);
  EXPECT_EQ(root->entries[0].path, "/Shared/proj");
  EXPECT_EQ(root->entries[0].share_role, "viewer");
  EXPECT_EQ(root->entries[0].shared_by, "alice");
  EXPECT_EQ(names_as(bob_, "/Shared/proj"), std::vector<std::string>{"/Shared/proj/notes.txt"});

  // He reads the manifest and, for it, the chunk he never uploaded.
  auto listed = services_->files().list(bob_, "/Shared/proj/notes.txt");
  const std::string manifest = listed->entries.at(0).manifest->hex();
  EXPECT_TRUE(services_->files().manifest(bob_, manifest).has_value());
  auto digest = Digest::from_hex(manifest);
  auto without = services_->chunks().locate_chunks(bob_, {{chunk}, {}, {}});
  ASSERT_TRUE(without.has_value());
  EXPECT_TRUE(without->reads.empty());  // Asked for by hash alone: nothing.
  auto with = services_->chunks().locate_chunks(bob_, {{chunk}, {*digest}, {}});
  ASSERT_TRUE(with.has_value());
  ASSERT_EQ(with->reads.size(), 1u);
  auto read =
      services_->chunks().chunk_read(bob_, chunk.hash.hex(), testing::query_of(with->reads[0].url));
  EXPECT_TRUE(read.has_value()) << read.error().message();
  // The signed read is his alone.
  EXPECT_EQ(services_->chunks()
                .chunk_read(carol_, chunk.hash.hex(), testing::query_of(with->reads[0].url))
                .error()
                .code(),
            ErrorCode::kPermissionDenied);
  // A stranger gets nothing for the same manifest.
  auto stranger = services_->chunks().locate_chunks(carol_, {{chunk}, {*digest}, {}});
  EXPECT_TRUE(stranger->reads.empty());

  // Every write is refused with 403 naming the role, and changes nothing.
  const std::string before = alice_state();
  const ChunkRef his = upload_chunk("bob's edit", bob_);
  std::vector<CommitOp> writes = {
      CommitOp::put_file(file("/Shared/proj/notes.txt", his, 1, &bob_)),
      CommitOp::put_file(file("/Shared/proj/new.txt", his)),
      CommitOp::mkdir("/Shared/proj/sub"),
      CommitOp::remove("/Shared/proj/notes.txt", std::nullopt),
      CommitOp::move("/Shared/proj/notes.txt", "/Shared/proj/renamed.txt"),
      CommitOp::restore("/Shared/proj/notes.txt", 1),
  };
  for (auto& w : writes) {
    auto r = commit(bob_, {w});
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), ErrorCode::kPermissionDenied);
    EXPECT_NE(r.error().message().find("viewer"), std::string::npos) << r.error().message();
  }
  // An upload session into the folder is refused up front too.
  auto staged = services_->files().init_uploads(bob_, {{file("/Shared/proj/up.txt", his)}, ""});
  EXPECT_EQ(staged.error().code(), ErrorCode::kPermissionDenied);
  // A batch with one refused op is refused whole: his own file is not written either.
  auto mixed = commit(bob_, {CommitOp::put_file(file("/mine.txt", his)),
                             CommitOp::put_file(file("/Shared/proj/x.txt", his))});
  EXPECT_EQ(mixed.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_TRUE(services_->files().list(bob_, "/mine.txt").error().code() == ErrorCode::kNotFound);
  EXPECT_EQ(services_->sharing().share(bob_, {"/Shared/proj", "carol", "viewer"}).error().code(),
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(alice_state(), before);

  // His own files are his to change.
  EXPECT_TRUE(commit(bob_, {CommitOp::put_file(file("/mine.txt", his))}));
  // Never alice's private folder, by path or by id.
  EXPECT_EQ(services_->files().list(bob_, "/private").error().code(), ErrorCode::kNotFound);
}

TEST_P(ShareTest, EditorsAndTheOwnerSeeEachOthersChangesAndRolesApplyOnTheNextRequest) {
  const ChunkRef chunk = upload_chunk("v1", ctx_);
  ASSERT_TRUE(commit(ctx_, {CommitOp::put_file(file("/proj/a.txt", chunk))}));
  share("/proj", "bob", "editor");

  auto first = services_->files().changes(bob_, "", 1000);
  ASSERT_TRUE(first.has_value());
  std::set<std::string> seen;
  for (const auto& e : first->changes) seen.insert(e.path);
  EXPECT_EQ(seen, (std::set<std::string>{"/Shared", "/Shared/proj", "/Shared/proj/a.txt"}));

  // Bob edits and adds; alice sees it in her own feed, under her own path.
  const ChunkRef his = upload_chunk("v2 by bob", bob_);
  auto edited = commit(bob_, {CommitOp::put_file(file("/Shared/proj/a.txt", his, 1, &bob_)),
                              CommitOp::put_file(file("/Shared/proj/b.txt", his))});
  ASSERT_TRUE(edited.has_value()) << edited.error().message();
  EXPECT_EQ(edited->results[0].status, OpStatus::kOk);
  EXPECT_EQ(edited->results[0].path, "/Shared/proj/a.txt");
  EXPECT_EQ(names("/proj"), (std::vector<std::string>{"/proj/a.txt", "/proj/b.txt"}));
  auto history = services_->files().history(ctx_, "/proj/a.txt", 0);
  ASSERT_TRUE(history.has_value());
  EXPECT_EQ(history->versions.at(0).author, "bob");
  // The quota is the owner's: bob's own usage did not move.
  EXPECT_EQ(services_->files().quota(bob_)->used, 0u);
  EXPECT_EQ(services_->files().quota(ctx_)->used, 2 * his.length);

  // Alice's next edit reaches bob's feed from his cursor.
  ASSERT_TRUE(commit(ctx_, {CommitOp::put_file(file("/proj/a.txt", chunk, 2))}));
  auto next = services_->files().changes(bob_, first->cursor, 1000);
  ASSERT_TRUE(next.has_value());
  std::set<std::string> changed;
  for (const auto& e : next->changes) changed.insert(e.path);
  EXPECT_TRUE(changed.count("/Shared/proj/a.txt") != 0);

  // Downgraded to viewer: his next write is refused.
  share("/proj", "bob", "viewer");
  auto refused = commit(bob_, {CommitOp::put_file(file("/Shared/proj/c.txt", his))});
  EXPECT_EQ(refused.error().code(), ErrorCode::kPermissionDenied);
  // His feed shows the mount again, with the new role.
  auto after = services_->files().changes(bob_, next->cursor, 1000);
  bool remarked = false;
  for (const auto& e : after->changes) {
    remarked |= e.path == "/Shared/proj" && e.share_role == "viewer";
  }
  EXPECT_TRUE(remarked);

  // Taken away: the mount goes (deleted in his feed), and his requests find nothing.
  ASSERT_TRUE(services_->sharing().unshare(ctx_, "/proj", "bob"));
  auto gone = services_->files().changes(bob_, after->cursor, 1000);
  bool mount_deleted = false;
  for (const auto& e : gone->changes) mount_deleted |= e.path == "/Shared/proj" && e.deleted;
  EXPECT_TRUE(mount_deleted);
  EXPECT_EQ(services_->files().list(bob_, "/Shared/proj").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(services_->sharing().unshare(ctx_, "/proj", "bob").error().code(),
            ErrorCode::kNotFound);
}

TEST_P(ShareTest, TheFeedOfASharedFolderNeverShowsWhatLiesOutsideIt) {
  const ChunkRef chunk = upload_chunk("x", ctx_);
  ASSERT_TRUE(commit(ctx_, {CommitOp::put_file(file("/proj/keep.txt", chunk)),
                            CommitOp::put_file(file("/proj/leaving.txt", chunk)),
                            CommitOp::put_file(file("/secret/plans.txt", chunk))}));
  share("/proj", "bob", "viewer");
  auto first = services_->files().changes(bob_, "", 1000);
  ASSERT_TRUE(first.has_value());

  // Alice moves a file out into her private folder, and edits it there.
  ASSERT_TRUE(commit(ctx_, {CommitOp::move("/proj/leaving.txt", "/secret/left.txt")}));
  ASSERT_TRUE(
      commit(ctx_, {CommitOp::put_file(file("/secret/left.txt", upload_chunk("y", ctx_), 1))}));
  auto next = services_->files().changes(bob_, first->cursor, 1000);
  ASSERT_TRUE(next.has_value());
  ASSERT_EQ(next->changes.size(), 1u);
  const auto& e = next->changes[0];
  // Gone, as far as bob can tell; where it went (and its new name) stays alice's.
  EXPECT_TRUE(e.deleted);
  EXPECT_EQ(e.change, "moved_out");
  EXPECT_EQ(e.path, "/Shared/proj");
  for (const auto& c : next->changes) EXPECT_EQ(c.path.find("secret"), std::string::npos);

  // Renaming the shared folder itself changes nothing for bob.
  ASSERT_TRUE(commit(ctx_, {CommitOp::move("/proj", "/projects/p1")}));
  EXPECT_EQ(names_as(bob_, "/Shared/proj"), std::vector<std::string>{"/Shared/proj/keep.txt"});
  auto shares = services_->sharing().shares(ctx_, "");
  ASSERT_EQ(shares->shares.size(), 1u);
  EXPECT_EQ(shares->shares[0].path, "/projects/p1");

  // A cursor from elsewhere starts the feed over, and never deletes.
  auto reset = services_->files().changes(bob_, "c1.77.3", 1000);
  ASSERT_TRUE(reset.has_value());
  EXPECT_TRUE(reset->reset);
  EXPECT_TRUE(services_->files().changes(bob_, "c2.0:x", 1000)->reset);
  // One of schema 4 (the home namespace's position alone) carries on where it was.
  auto from_start = services_->files().changes(ctx_, "", 1000);
  ASSERT_TRUE(from_start.has_value());
  const std::string head = from_start->cursor.substr(std::string("c2.0:").size());
  const std::string old_cursor = "c1." + std::to_string(ctx_.user.home_namespace_id) + "." + head;
  auto carried = services_->files().changes(ctx_, old_cursor, 1000);
  ASSERT_TRUE(carried.has_value());
  EXPECT_FALSE(carried->reset);
  EXPECT_TRUE(carried->changes.empty());
  EXPECT_EQ(carried->cursor, from_start->cursor);
}

TEST_P(ShareTest, MountsStayInTheirPlaceAndNothingCrossesThem) {
  const ChunkRef chunk = upload_chunk("x", ctx_);
  ASSERT_TRUE(commit(ctx_, {CommitOp::put_file(file("/proj/a.txt", chunk)),
                            CommitOp::put_file(file("/secret/s.txt", chunk))}));
  share("/proj", "bob", "editor");
  auto secret = services_->files().list(ctx_, "/secret/s.txt");
  const int64_t secret_id = secret->entries.at(0).node_id;

  // Bob may move his mount, not delete it (leaving is unshare), nor what holds it.
  auto moved = commit(bob_, {CommitOp::move("/Shared/proj", "/work/proj")});
  ASSERT_TRUE(moved.has_value());
  EXPECT_EQ(moved->results[0].status, OpStatus::kOk);
  EXPECT_EQ(names_as(bob_, "/work/proj"), std::vector<std::string>{"/work/proj/a.txt"});
  auto del = commit(bob_, {CommitOp::remove("/work", std::nullopt)});
  EXPECT_EQ(del->results[0].status, OpStatus::kError);
  EXPECT_NE(del->results[0].message.find("unshare"), std::string::npos);

  // Nothing moves between the shared folder and his own files.
  ASSERT_TRUE(commit(bob_, {CommitOp::put_file(file("/mine.txt", upload_chunk("m", bob_)))}));
  auto out = commit(bob_, {CommitOp::move("/work/proj/a.txt", "/a.txt")});
  EXPECT_EQ(out->results[0].status, OpStatus::kError);
  auto in = commit(bob_, {CommitOp::move("/mine.txt", "/work/proj/mine.txt")});
  EXPECT_EQ(in->results[0].status, OpStatus::kError);

  // Alice's private file cannot be pulled in by its id, nor edited by following it.
  auto by_id =
      commit(bob_, {CommitOp::move("/work/proj/s.txt", "/work/proj/stolen.txt", secret_id)});
  EXPECT_EQ(by_id->results[0].status, OpStatus::kError);
  protocol::FileUpload follow = file("/work/proj/s.txt", upload_chunk("evil", bob_));
  follow.node_id = secret_id;
  auto followed = commit(bob_, {CommitOp::put_file(follow)});
  ASSERT_TRUE(followed.has_value());
  EXPECT_EQ(followed->results[0].path, "/work/proj/s.txt");  // A new file in the share.
  auto untouched = services_->files().history(ctx_, "/secret/s.txt", 0);
  EXPECT_EQ(untouched->versions.size(), 1u);
  EXPECT_EQ(services_->files().history(bob_, "", secret_id).error().code(), ErrorCode::kNotFound);

  // Only the owner shares, never the whole tree, nor with oneself.
  EXPECT_EQ(services_->sharing().share(ctx_, {"/", "carol", "viewer"}).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(services_->sharing().share(ctx_, {"/proj", "alice", "viewer"}).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(services_->sharing().share(ctx_, {"/proj", "nobody", "viewer"}).error().code(),
            ErrorCode::kNotFound);
  EXPECT_EQ(services_->sharing().share(ctx_, {"/proj", "carol", "owner"}).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(services_->sharing().share(bob_, {"/work/proj", "carol", "viewer"}).error().code(),
            ErrorCode::kPermissionDenied);

  // A second folder of the same name lands beside the first.
  ASSERT_TRUE(commit(ctx_, {CommitOp::mkdir("/other/proj")}));
  share("/other/proj", "bob", "viewer");
  EXPECT_EQ(names_as(bob_, "/Shared"), std::vector<std::string>{"/Shared/proj"});
  share("/other/proj", "carol", "viewer");
  share("/proj", "carol", "viewer");
  EXPECT_EQ(names_as(carol_, "/Shared"),
            (std::vector<std::string>{"/Shared/proj", "/Shared/proj (2)"}));

  // Bob leaves; the folder stays alice's.
  ASSERT_TRUE(services_->sharing().unshare(bob_, "/work/proj", ""));
  EXPECT_EQ(services_->files().list(bob_, "/work/proj").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(names("/proj"), (std::vector<std::string>{"/proj/a.txt", "/proj/s.txt"}));
}

TEST_P(ShareTest, ARevokedTokenOrDisabledUserChangesNothingEvenMidRequest) {
  const ChunkRef his = upload_chunk("in flight", bob_);
  auto staged = services_->files().init_uploads(bob_, {{file("/upload.bin", his)}, ""});
  ASSERT_TRUE(staged.has_value());
  // Revoked after the request was authenticated, before its commit ran.
  const int64_t id = services_->identity().list_tokens("bob")->at(0).token_id;
  ASSERT_TRUE(services_->identity().revoke_token("bob", id));
  auto late = commit(bob_, {CommitOp::put_upload(staged->uploads[0].upload_id)});
  ASSERT_FALSE(late.has_value());
  EXPECT_EQ(late.error().code(), ErrorCode::kUnauthenticated);
  auto fresh = services_->identity().create_token("bob", "again");
  auto again = signed_in(*fresh);
  EXPECT_EQ(services_->files().list(again, "/upload.bin").error().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(commit(again, {CommitOp::put_upload(staged->uploads[0].upload_id)}));
  EXPECT_TRUE(services_->files().list(again, "/upload.bin").has_value());

  ASSERT_TRUE(services_->identity().set_user_disabled("bob", true));
  auto disabled = commit(again, {CommitOp::mkdir("/later")});
  EXPECT_EQ(disabled.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(services_->sharing().share(again, {"/x", "carol", "viewer"}).error().code(),
            ErrorCode::kUnauthenticated);
}

TEST_P(ShareTest, ScopedTokensStayInsideTheirScope) {
  const ChunkRef chunk = upload_chunk("artifact", ctx_);
  ASSERT_TRUE(commit(ctx_, {CommitOp::put_file(file("/ci/build.log", chunk)),
                            CommitOp::put_file(file("/home.txt", chunk))}));
  auto ro = services_->identity().create_token("alice", "read", std::nullopt, {true, ""});
  auto ci = services_->identity().create_token("alice", "ci", std::nullopt, {false, "/ci"});
  ASSERT_TRUE(ro && ci);
  const auto reader = signed_in(*ro);
  const auto builder = signed_in(*ci);
  const std::string before = alice_state();

  // Read-only: reads work, every write and upload is refused.
  EXPECT_TRUE(services_->files().list(reader, "/").has_value());
  EXPECT_TRUE(services_->files().changes(reader, "", 100).has_value());
  EXPECT_EQ(commit(reader, {CommitOp::mkdir("/x")}).error().code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(services_->chunks().check_chunks(reader, {{chunk}, {}, {}}).error().code(),
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(services_->files().init_uploads(reader, {{file("/y", chunk)}, ""}).error().code(),
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(services_->files().empty_trash(reader).error().code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(services_->sharing().share(reader, {"/ci", "bob", "viewer"}).error().code(),
            ErrorCode::kPermissionDenied);

  // Path-scoped: inside /ci everything, outside nothing, and the feed shows only /ci.
  EXPECT_TRUE(commit(builder, {CommitOp::put_file(file("/ci/next.log", chunk))}));
  EXPECT_EQ(commit(builder, {CommitOp::put_file(file("/home.txt", chunk, 1))}).error().code(),
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(commit(builder, {CommitOp::move("/ci/build.log", "/stolen.log")}).error().code(),
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(services_->files().list(builder, "/").error().code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(services_->files().history(builder, "/home.txt", 0).error().code(),
            ErrorCode::kPermissionDenied);
  auto feed = services_->files().changes(builder, "", 1000);
  ASSERT_TRUE(feed.has_value());
  for (const auto& e : feed->changes) {
    EXPECT_TRUE(e.path == "/ci" || e.path.rfind("/ci/", 0) == 0) << e.path;
  }
  EXPECT_EQ(alice_state().find("/home.txt v2"), std::string::npos);
  (void)before;
  auto listed = services_->identity().list_tokens("alice");
  ASSERT_TRUE(listed.has_value());
  bool found = false;
  for (const auto& t : *listed) found |= t.label == "ci" && t.scope.path == "/ci";
  EXPECT_TRUE(found);
}

TEST_P(ShareTest, DedupTellsAUserNothingAboutOthersChunks) {
  // Alice holds a chunk; bob uploads the same bytes. Every answer he gets is the one for a
  // chunk nobody stored, and he cannot fetch hers by hash.
  const ChunkRef hers = upload_chunk("the same bytes", ctx_);
  const std::string never_text = "nobody's bytes";  // As long as hers: the same URL shape.
  const ChunkRef never{sha256(as_bytes(never_text)), static_cast<uint32_t>(never_text.size())};
  auto a = services_->chunks().check_chunks(bob_, {{hers}, {}, {}});
  auto b = services_->chunks().check_chunks(bob_, {{never}, {}, {}});
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->missing.size(), 1u);
  ASSERT_EQ(b->missing.size(), 1u);
  // The same shape: an upload URL each, no hint which is stored.
  auto shape = [](std::string url, const Digest& d) {
    url.replace(url.find(d.hex()), d.hex().size(), "H");
    return url.substr(0, url.find("&s="));
  };
  EXPECT_EQ(shape(a->missing[0].url, hers.hash), shape(b->missing[0].url, never.hash));
  auto fetch_hers = services_->chunks().chunk_read(bob_, hers.hash.hex());
  auto fetch_never = services_->chunks().chunk_read(bob_, never.hash.hex());
  EXPECT_EQ(fetch_hers.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(fetch_never.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(fetch_hers.error().message().size(), fetch_never.error().message().size());
  EXPECT_TRUE(services_->chunks().locate_chunks(bob_, {{hers}, {}, {}})->reads.empty());

  // He uploads it; the daemon verifies his bytes and keeps one copy; now he holds it.
  upload_chunk("the same bytes", bob_);
  EXPECT_TRUE(services_->chunks().check_chunks(bob_, {{hers}, {}, {}})->missing.empty());
  EXPECT_TRUE(services_->chunks().chunk_read(bob_, hers.hash.hex()).has_value());
}

TEST_P(ShareTest, ARoleTakenAwayBetweenUploadAndCommitLetsNothingThrough) {
  ASSERT_TRUE(commit(ctx_, {CommitOp::mkdir("/proj")}));
  share("/proj", "bob", "editor");
  const ChunkRef his = upload_chunk("bob's upload", bob_);
  auto staged = services_->files().init_uploads(bob_, {{file("/Shared/proj/up.bin", his)}, ""});
  ASSERT_TRUE(staged.has_value()) << staged.error().message();
  share("/proj", "bob", "viewer");  // Downgraded while his upload was in flight.
  auto late = commit(bob_, {CommitOp::put_upload(staged->uploads[0].upload_id)});
  ASSERT_FALSE(late.has_value());
  EXPECT_EQ(late.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_TRUE(names("/proj").empty());
  share("/proj", "bob", "editor");  // The session is still his: now it lands.
  auto now = commit(bob_, {CommitOp::put_upload(staged->uploads[0].upload_id)});
  ASSERT_TRUE(now.has_value()) << now.error().message();
  EXPECT_EQ(names("/proj"), std::vector<std::string>{"/proj/up.bin"});
  // Taken away entirely: the path is his own again, and nothing reaches alice.
  ASSERT_TRUE(services_->sharing().unshare(ctx_, "/proj", "bob"));
  auto again = services_->files().init_uploads(bob_, {{file("/Shared/proj/second.bin", his)}, ""});
  ASSERT_TRUE(again.has_value());
  ASSERT_TRUE(commit(bob_, {CommitOp::put_upload(again->uploads[0].upload_id)}));
  EXPECT_EQ(names("/proj"), std::vector<std::string>{"/proj/up.bin"});
}

TEST_P(ShareTest, LinksServeWhatTheyNameUntilTheyEnd) {
  const std::string text = "linked bytes";
  const ChunkRef chunk = upload_chunk(text, ctx_);
  ASSERT_TRUE(commit(ctx_, {CommitOp::put_file(file("/proj/a.txt", chunk))}));
  share("/proj", "bob", "viewer");
  share("/proj", "carol", "editor");

  auto made = services_->sharing().create_link(ctx_, {"/proj/a.txt", 60});
  ASSERT_TRUE(made.has_value()) << made.error().message();
  const std::string token = made->url.substr(3);
  auto read_all = [&](const std::string& t) -> Result<std::string> {
    CAIRN_ASSIGN_OR_RETURN(auto stream, services_->sharing().open_link(t));
    std::string out;
    while (true) {
      CAIRN_ASSIGN_OR_RETURN(auto piece, stream->next());
      if (piece.empty()) break;
      out += std::string(as_string_view(piece));
    }
    EXPECT_EQ(out.size(), stream->size());
    return out;
  };
  EXPECT_EQ(*read_all(token), text);

  // A viewer makes no links; an editor does, to the shared folder; a read-only token none.
  EXPECT_EQ(
      services_->sharing().create_link(bob_, {"/Shared/proj/a.txt", std::nullopt}).error().code(),
      ErrorCode::kPermissionDenied);
  auto by_editor = services_->sharing().create_link(carol_, {"/Shared/proj", std::nullopt});
  ASSERT_TRUE(by_editor.has_value()) << by_editor.error().message();
  auto tar = read_all(by_editor->url.substr(3));
  ASSERT_TRUE(tar.has_value());
  EXPECT_EQ(tar->size() % 512, 0u);
  EXPECT_NE(tar->find("proj/a.txt"), std::string::npos);
  EXPECT_NE(tar->find(text), std::string::npos);
  EXPECT_EQ(services_->sharing().links(carol_)->links.at(0).path, "/Shared/proj");
  auto ro = services_->identity().create_token("alice", "ro", std::nullopt, {true, ""});
  EXPECT_EQ(
      services_->sharing().create_link(signed_in(*ro), {"/proj", std::nullopt}).error().code(),
      ErrorCode::kPermissionDenied);

  // Expired by the clock, revoked by its URL's token, or its creator disabled: all not found.
  clock_.now += 61;
  EXPECT_EQ(services_->sharing().open_link(token).error().code(), ErrorCode::kNotFound);
  ASSERT_TRUE(services_->sharing().revoke_link(carol_, 0, by_editor->url.substr(3)));
  EXPECT_EQ(services_->sharing().open_link(by_editor->url.substr(3)).error().code(),
            ErrorCode::kNotFound);
  auto lasting = services_->sharing().create_link(carol_, {"/Shared/proj/a.txt", std::nullopt});
  ASSERT_TRUE(lasting.has_value());
  EXPECT_TRUE(read_all(lasting->url.substr(3)).has_value());
  ASSERT_TRUE(services_->identity().set_user_disabled("carol", true));
  EXPECT_EQ(services_->sharing().open_link(lasting->url.substr(3)).error().code(),
            ErrorCode::kNotFound);
  // Someone else's link is not theirs to revoke.
  EXPECT_EQ(services_->sharing().revoke_link(bob_, lasting->link_id).error().code(),
            ErrorCode::kNotFound);
  EXPECT_EQ(services_->sharing().open_link("not-a-token").error().code(), ErrorCode::kNotFound);
}

TEST_P(ShareTest, ASingleSharedFileIsTheOwnersAtAPathOfTheGrantees) {
  const ChunkRef v1 = upload_chunk("report v1", ctx_);
  ASSERT_TRUE(commit(ctx_, {CommitOp::put_file(file("/docs/report.txt", v1)),
                            CommitOp::put_file(file("/docs/secret.txt", v1))}));
  const int64_t alices_id =
      services_->files().list(ctx_, "/docs/report.txt")->entries.at(0).node_id;
  share("/docs/report.txt", "bob", "viewer");

  // Bob sees a file of his, with alice's contents and versions, marked as hers.
  auto listed = services_->files().list(bob_, "/Shared");
  ASSERT_TRUE(listed.has_value());
  ASSERT_EQ(listed->entries.size(), 1u);
  const protocol::Entry shown = listed->entries[0];
  EXPECT_EQ(shown.path, "/Shared/report.txt");
  EXPECT_EQ(shown.kind, NodeKind::kFile);
  EXPECT_EQ(shown.version, 1);
  EXPECT_EQ(shown.size, v1.length);
  EXPECT_EQ(shown.shared_by, "alice");
  EXPECT_EQ(shown.share_role, "viewer");
  EXPECT_NE(shown.node_id, alices_id);  // The mount's id: his moves of it are his.
  auto alone = services_->files().list(bob_, "/Shared/report.txt");
  ASSERT_TRUE(alone.has_value());
  EXPECT_EQ(alone->entries.at(0).node_id, shown.node_id);
  EXPECT_EQ(alone->entries.at(0).manifest, shown.manifest);
  // His feed holds it once, at his path, under the same id; nothing of the folder around it.
  auto feed = services_->files().changes(bob_, "", 1000);
  ASSERT_TRUE(feed.has_value());
  std::map<std::string, protocol::Entry> seen;
  for (const auto& e : feed->changes) seen[e.path] = e;
  ASSERT_EQ(seen.count("/Shared/report.txt"), 1u);
  EXPECT_EQ(seen["/Shared/report.txt"].node_id, shown.node_id);
  EXPECT_EQ(seen["/Shared/report.txt"].manifest, shown.manifest);
  for (const auto& e : feed->changes) EXPECT_EQ(e.path.find("secret"), std::string::npos);
  // He reads it, chunk included; nothing beside it exists for him.
  auto digest = shown.manifest;
  ASSERT_TRUE(digest.has_value());
  EXPECT_TRUE(services_->files().manifest(bob_, digest->hex()).has_value());
  EXPECT_EQ(services_->chunks().locate_chunks(bob_, {{v1}, {*digest}, {}})->reads.size(), 1u);
  EXPECT_EQ(services_->files().list(bob_, "/Shared/report.txt/x").error().code(),
            ErrorCode::kInvalidArgument);

  // As a viewer he changes nothing, and cannot delete his mount (leaving is unshare).
  const std::string before = alice_state();
  const ChunkRef his = upload_chunk("bob's report", bob_);
  for (auto& w : {CommitOp::put_file(file("/Shared/report.txt", his, 1, &bob_)),
                  CommitOp::restore("/Shared/report.txt", 1)}) {
    auto r = commit(bob_, {w});
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), ErrorCode::kPermissionDenied);
    EXPECT_NE(r.error().message().find("viewer"), std::string::npos) << r.error().message();
  }
  auto inside = commit(bob_, {CommitOp::put_file(file("/Shared/report.txt/inside.txt", his))});
  EXPECT_EQ(inside->results.at(0).status, OpStatus::kError);
  auto del = commit(bob_, {CommitOp::remove("/Shared/report.txt", std::nullopt)});
  EXPECT_EQ(del->results.at(0).status, OpStatus::kError);
  EXPECT_NE(del->results.at(0).message.find("unshare"), std::string::npos);
  EXPECT_EQ(alice_state(), before);

  // As an editor his edit is alice's next version; the answer names his mount.
  share("/docs/report.txt", "bob", "editor");
  protocol::FileUpload edit = file("/Shared/report.txt", his, 1, &bob_);
  edit.node_id = shown.node_id;
  auto edited = commit(bob_, {CommitOp::put_file(edit)});
  ASSERT_TRUE(edited.has_value()) << edited.error().message();
  EXPECT_EQ(edited->results.at(0).status, OpStatus::kOk);
  EXPECT_EQ(edited->results.at(0).node_id, shown.node_id);
  EXPECT_EQ(edited->results.at(0).version, 2);
  auto history = services_->files().history(ctx_, "/docs/report.txt", 0);
  ASSERT_EQ(history->versions.size(), 2u);
  EXPECT_EQ(history->versions.at(0).author, "bob");
  auto his_history = services_->files().history(bob_, "", shown.node_id);
  ASSERT_TRUE(his_history.has_value()) << his_history.error().message();
  EXPECT_EQ(his_history->versions.size(), 2u);
  EXPECT_EQ(his_history->path, "/Shared/report.txt");

  // An edit that lost the race is kept as bob's own copy beside his mount, not in alice's
  // folder.
  ASSERT_TRUE(commit(ctx_, {CommitOp::put_file(file("/docs/report.txt", v1, 2))}));
  const ChunkRef late = upload_chunk("bob's late edit", bob_);
  auto raced = commit(bob_, {CommitOp::put_file(file("/Shared/report.txt", late, 2, &bob_))});
  ASSERT_TRUE(raced.has_value()) << raced.error().message();
  EXPECT_EQ(raced->results.at(0).status, OpStatus::kCopied);
  EXPECT_EQ(raced->results.at(0).copy.rfind("/Shared/report (conflicted copy", 0), 0u)
      << raced->results.at(0).copy;
  EXPECT_EQ(names("/docs"), (std::vector<std::string>{"/docs/report.txt", "/docs/secret.txt"}));
  EXPECT_EQ(services_->files().quota(bob_)->used, late.length);

  // Alice renames it: bob notices nothing. Bob moves his mount: alice notices nothing.
  auto cursor = services_->files().changes(bob_, "", 1000)->cursor;
  ASSERT_TRUE(commit(ctx_, {CommitOp::move("/docs/report.txt", "/archive/final.txt")}));
  auto moved = commit(bob_, {CommitOp::move("/Shared/report.txt", "/work/report.txt")});
  ASSERT_TRUE(moved.has_value());
  EXPECT_EQ(moved->results.at(0).status, OpStatus::kOk) << moved->results.at(0).message;
  auto after = services_->files().changes(bob_, cursor, 1000);
  ASSERT_TRUE(after.has_value());
  for (const auto& e : after->changes) {
    EXPECT_EQ(e.path.find("final"), std::string::npos) << e.path;
    if (e.node_id == shown.node_id) {
      EXPECT_EQ(e.path, "/work/report.txt");
    }
  }
  EXPECT_EQ(names_as(bob_, "/work"), std::vector<std::string>{"/work/report.txt"});
  EXPECT_EQ(names("/archive"), std::vector<std::string>{"/archive/final.txt"});
  // A second file of the same name lands beside the first, its number before the extension.
  ASSERT_TRUE(commit(bob_, {CommitOp::put_file(file("/Shared/report.txt", his))}));
  ASSERT_TRUE(commit(ctx_, {CommitOp::put_file(file("/other/report.txt", v1))}));
  share("/other/report.txt", "bob", "viewer");
  auto in_shared = services_->sharing().shares(bob_, "/Shared");
  ASSERT_EQ(in_shared->shares.size(), 1u);
  EXPECT_EQ(in_shared->shares[0].path, "/Shared/report (2).txt");

  // Alice deletes it: bob's feed deletes his mount's id. Unshared: the same for the other.
  cursor = services_->files().changes(bob_, "", 1000)->cursor;
  ASSERT_TRUE(commit(ctx_, {CommitOp::remove("/archive/final.txt", std::nullopt)}));
  auto other = services_->files().list(bob_, "/Shared/report (2).txt");
  ASSERT_TRUE(other.has_value());
  const int64_t other_id = other->entries.at(0).node_id;
  ASSERT_TRUE(services_->sharing().unshare(ctx_, "/other/report.txt", "bob"));
  auto gone = services_->files().changes(bob_, cursor, 1000);
  std::set<int64_t> deleted;
  for (const auto& e : gone->changes) {
    if (e.deleted) deleted.insert(e.node_id);
  }
  EXPECT_EQ(deleted, (std::set<int64_t>{shown.node_id, other_id}));
  EXPECT_EQ(services_->files().list(bob_, "/work/report.txt").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(services_->files().list(bob_, "/Shared/report (2).txt").error().code(),
            ErrorCode::kNotFound);
}

TEST_P(ShareTest, NotificationsReachTheGranteesOfWhatChangedOnly) {
  const ChunkRef chunk = upload_chunk("x", ctx_);
  ASSERT_TRUE(commit(ctx_, {CommitOp::put_file(file("/proj/a.txt", chunk)),
                            CommitOp::put_file(file("/docs/report.txt", chunk)),
                            CommitOp::put_file(file("/private/p.txt", chunk))}));
  share("/proj", "bob", "viewer");
  share("/docs/report.txt", "carol", "editor");
  const int64_t ns = ctx_.user.home_namespace_id;
  const int64_t alice = ctx_.user.user_id;
  const int64_t bob = bob_.user.user_id;
  const int64_t carol = carol_.user.user_id;
  auto users = [&](const store::MetadataStore::Audience& a) {
    return std::set<int64_t>(a.users.begin(), a.users.end());
  };

  // No position known: the owner and every grantee.
  auto all = metadata_->audience(ns, -1);
  ASSERT_TRUE(all.has_value()) << all.error().message();
  EXPECT_EQ(users(*all), (std::set<int64_t>{alice, bob, carol}));
  int64_t at = all->head;
  auto next = [&](std::vector<CommitOp> ops) {
    EXPECT_TRUE(commit(ctx_, std::move(ops)));
    auto a = metadata_->audience(ns, at);
    EXPECT_TRUE(a.has_value());
    at = a->head;
    return users(*a);
  };
  // A private change: the owner alone. Nothing new: the owner alone too.
  EXPECT_EQ(next({CommitOp::put_file(file("/private/q.txt", chunk))}), std::set<int64_t>{alice});
  EXPECT_EQ(users(*metadata_->audience(ns, at)), std::set<int64_t>{alice});
  // Inside the shared folder; the shared file itself; a file moved out of the shared folder
  // (its old parent is under the share).
  EXPECT_EQ(next({CommitOp::put_file(file("/proj/b.txt", chunk))}),
            (std::set<int64_t>{alice, bob}));
  EXPECT_EQ(next({CommitOp::put_file(file("/docs/report.txt", upload_chunk("y", ctx_), 1))}),
            (std::set<int64_t>{alice, carol}));
  EXPECT_EQ(next({CommitOp::move("/proj/b.txt", "/private/b.txt")}),
            (std::set<int64_t>{alice, bob}));
  // Bob's own namespace: bob.
  auto his = metadata_->audience(bob_.user.home_namespace_id, -1);
  EXPECT_EQ(users(*his), std::set<int64_t>{bob});
}

TEST_P(ShareTest, ARecursiveListingHoldsEverythingBelowWithSharedFoldersAsMounts) {
  for (const char* path : {"/t/a.txt", "/t/d/b.txt", "/t/d/e/c.txt", "/t/gone/x.txt"}) {
    ASSERT_EQ(put_file(path, path, std::nullopt).status, OpStatus::kOk) << path;
  }
  ASSERT_EQ(op(OpKind::kDelete, "/t/gone").status, OpStatus::kOk);
  auto paths = [](const Result<protocol::ListResponse>& l) {
    std::vector<std::string> out;
    EXPECT_TRUE(l.has_value()) << l.error().message();
    if (l) {
      for (const auto& e : l->entries) out.push_back(e.path);
    }
    return out;
  };
  // By depth, then name; nothing of what is in the trash.
  EXPECT_EQ(paths(services_->files().list(ctx_, "/t", true)),
            (std::vector<std::string>{"/t/a.txt", "/t/d", "/t/d/b.txt", "/t/d/e", "/t/d/e/c.txt"}));
  EXPECT_EQ(paths(services_->files().list(ctx_, "/t/a.txt", true)),
            std::vector<std::string>{"/t/a.txt"});
  EXPECT_EQ(services_->files().list(ctx_, "/t/gone", true).error().code(), ErrorCode::kNotFound);

  share("/t/d", "bob", "viewer");
  ASSERT_EQ(put_file("/mine/m.txt", "m", std::nullopt, &bob_).status, OpStatus::kOk);
  auto top = services_->files().list(bob_, "/", true);
  EXPECT_EQ(paths(top), (std::vector<std::string>{"/Shared", "/mine", "/Shared/d", "/mine/m.txt"}));
  ASSERT_TRUE(top.has_value());
  EXPECT_EQ(top->entries[2].share_role, "viewer");  // The mount, not listed into.
  EXPECT_EQ(paths(services_->files().list(bob_, "/Shared/d", true)),
            (std::vector<std::string>{"/Shared/d/b.txt", "/Shared/d/e", "/Shared/d/e/c.txt"}));

  // Deleted by its owner, the shared folder has nothing to list: a listing of bob's whole tree
  // passes over it (and still succeeds), while `ls /Shared` shows it so that he can leave it.
  ASSERT_EQ(op(OpKind::kDelete, "/t/d").status, OpStatus::kOk);
  EXPECT_EQ(paths(services_->files().list(bob_, "/", true)),
            (std::vector<std::string>{"/Shared", "/mine", "/mine/m.txt"}));
  EXPECT_EQ(paths(services_->files().list(bob_, "/Shared", false)),
            std::vector<std::string>{"/Shared/d"});
  EXPECT_EQ(services_->files().list(bob_, "/Shared/d", true).error().code(), ErrorCode::kNotFound);
}

INSTANTIATE_TEST_SUITE_P(All, ShareTest,
                         ::testing::Values(Backend{"Sqlite", ""}, Backend{"Postgres", "postgres"}),
                         backend_name);

}  // namespace
}  // namespace cairn::store::conformance
