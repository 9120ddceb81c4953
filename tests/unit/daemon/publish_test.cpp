// Groups of upload sessions published in one step (what `cairn put` does), on every metadata
// backend: all of a group becomes current at once or none of it, and a mirror deletes the rest.

#include <gtest/gtest.h>

#include "tests/unit/daemon/metadata_store_fixture.h"

namespace cairn::store::conformance {
namespace {

constexpr const char* kGroup = "0123456789abcdef-g1";

class PublishTest : public MetadataStoreTest {
 protected:
  protocol::FileUpload file_of(const std::string& path, const std::string& text) {
    protocol::FileUpload f;
    f.path = path;
    f.chunks = {upload_chunk(text, ctx_)};
    return f;
  }
  static protocol::FileUpload folder_of(const std::string& path) {
    protocol::FileUpload f;
    f.path = path;
    f.kind = NodeKind::kFolder;
    f.mode = 0750;
    return f;
  }
  Result<protocol::InitUploadsResponse> stage(std::vector<protocol::FileUpload> files,
                                              const std::string& group = kGroup) {
    return services_->files().init_uploads(ctx_, {std::move(files), group});
  }
  protocol::CommitResult publish(const std::string& path, bool mirror = false,
                                 const std::string& group = kGroup) {
    auto r = services_->files().commit(ctx_, {"ci", {CommitOp::publish(group, path, mirror)}});
    EXPECT_TRUE(r.has_value()) << r.error().message();
    return r ? r->results.at(0) : protocol::CommitResult{};
  }
  std::string content_manifest(const std::string& path) {
    auto l = services_->files().list(ctx_, path);
    EXPECT_TRUE(l.has_value()) << path;
    return l && l->entries.size() == 1 && l->entries[0].manifest ? l->entries[0].manifest->hex()
                                                                 : "";
  }
};

TEST_P(PublishTest, AGroupBecomesCurrentInOneStepAndEndsItsSessions) {
  ASSERT_TRUE(
      stage({file_of("/b/a.txt", "a"), file_of("/b/sub/c.txt", "c"), folder_of("/b/empty")}));
  // Staged is not visible.
  EXPECT_EQ(services_->files().list(ctx_, "/b").error().code(), ErrorCode::kNotFound);
  auto r = publish("/b");
  EXPECT_EQ(r.status, OpStatus::kOk) << r.message;
  EXPECT_EQ(r.published, 3);
  EXPECT_EQ(r.changed, 3);
  EXPECT_EQ(names("/b"), (std::vector<std::string>{"/b/a.txt", "/b/empty", "/b/sub"}));
  auto empty = services_->files().list(ctx_, "/b");
  ASSERT_TRUE(empty.has_value());
  EXPECT_EQ(empty->entries[1].mode, 0750u);
  // The sessions are gone: publishing again finds nothing.
  auto again = publish("/b");
  EXPECT_EQ(again.status, OpStatus::kError);
  EXPECT_EQ(again.error_code, "not_found");

  // A publish replaces: new versions on top of the heads, with no base named; the same content
  // is no new version.
  const std::string a_before = content_manifest("/b/a.txt");
  ASSERT_TRUE(stage({file_of("/b/a.txt", "a"), file_of("/b/sub/c.txt", "c2")}));
  auto second = publish("/b");
  EXPECT_EQ(second.status, OpStatus::kOk) << second.message;
  EXPECT_EQ(second.changed, 1);
  EXPECT_EQ(content_manifest("/b/a.txt"), a_before);
  auto h = services_->files().history(ctx_, "/b/sub/c.txt", 0);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->versions.size(), 2u);
  EXPECT_EQ(services_->files().list(ctx_, "/b/sub")->entries.size(), 1u);  // No conflicted copy.
}

TEST_P(PublishTest, OneFileThatCannotGoUndoesTheWholeGroup) {
  ASSERT_EQ(op(OpKind::kMkdir, "/b/x").status, OpStatus::kOk);
  ASSERT_TRUE(stage({file_of("/b/a.txt", "a"), file_of("/b/x", "a file where a folder is"),
                     file_of("/b/z.txt", "z")}));
  auto r = publish("/b");
  EXPECT_EQ(r.status, OpStatus::kError);
  EXPECT_NE(r.message.find("/b/x"), std::string::npos) << r.message;
  EXPECT_EQ(names("/b"), std::vector<std::string>{"/b/x"});
  // Nothing was used up: the same group fails the same way, not as unknown.
  EXPECT_EQ(publish("/b").message, r.message);
}

TEST_P(PublishTest, AMirrorDeletesWhatTheGroupDoesNotHoldInTheSameStep) {
  ASSERT_EQ(put_file("/m/keep.txt", "k", std::nullopt).status, OpStatus::kOk);
  ASSERT_EQ(put_file("/m/old.txt", "o", std::nullopt).status, OpStatus::kOk);
  ASSERT_EQ(put_file("/m/dir/old2.txt", "o2", std::nullopt).status, OpStatus::kOk);
  ASSERT_EQ(put_file("/elsewhere.txt", "e", std::nullopt).status, OpStatus::kOk);
  ASSERT_TRUE(stage({folder_of("/m"), file_of("/m/keep.txt", "k"), file_of("/m/new.txt", "n")}));
  auto r = publish("/m", true);
  EXPECT_EQ(r.status, OpStatus::kOk) << r.message;
  EXPECT_EQ(r.deleted, 2);  // old.txt, and dir with what it holds.
  EXPECT_EQ(names("/m"), (std::vector<std::string>{"/m/keep.txt", "/m/new.txt"}));
  EXPECT_EQ(names("/"), (std::vector<std::string>{"/elsewhere.txt", "/m"}));
  auto trash = services_->files().trash(ctx_);
  ASSERT_TRUE(trash.has_value());
  EXPECT_EQ(trash->entries.size(), 2u);
}

TEST_P(PublishTest, RefusesBadGroupsStrayFoldersAndSessionsOutsideItsPath) {
  EXPECT_EQ(stage({folder_of("/b")}, "").error().code(), ErrorCode::kInvalidArgument);
  for (const char* bad : {"short", "0123456789abcdef/g", "0123456789abcdef g",
                          "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0"}) {
    EXPECT_EQ(stage({file_of("/b/a.txt", "a")}, bad).error().code(), ErrorCode::kInvalidArgument)
        << bad;
    auto r = services_->files().commit(ctx_, {"ci", {CommitOp::publish(bad, "/b", false)}});
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  }
  ASSERT_TRUE(stage({file_of("/b/a.txt", "a"), file_of("/other/x.txt", "x")}));
  auto r = publish("/b");
  EXPECT_EQ(r.status, OpStatus::kError);
  EXPECT_EQ(r.error_code, "invalid_argument");
  EXPECT_EQ(services_->files().list(ctx_, "/b").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(services_->files().list(ctx_, "/other").error().code(), ErrorCode::kNotFound);
}

INSTANTIATE_TEST_SUITE_P(All, PublishTest,
                         ::testing::Values(Backend{"Sqlite", ""}, Backend{"Postgres", "postgres"}),
                         backend_name);

}  // namespace
}  // namespace cairn::store::conformance
