#include "daemon/service/services.h"

#include <gtest/gtest.h>

#include "daemon/store/local_blob_store.h"
#include "daemon/store/sql_metadata_store.h"
#include "tests/unit/daemon/service_test_support.h"
#include "tests/unit/daemon/test_dir.h"

namespace cairn::service {
namespace {

using testing::ManualClock;
using testing::query_of;

class SignedUrlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    metadata_ = std::move(*store::open_metadata_store(dir_.path() + "/m.db", true));
    blobs_ = std::move(*store::LocalBlobStore::open(dir_.path() + "/blobs"));
    services_ = std::make_unique<Services>(*metadata_, *blobs_, ServiceConfig{},
                                           Bytes(32, std::byte{1}), clock_);
    auto user = services_->identity().add_user("alice");
    ctx_ = {user->first, "d", clock_.now};
  }

  testing::TempDir dir_;
  ManualClock clock_;
  std::unique_ptr<store::MetadataStore> metadata_;
  std::unique_ptr<store::LocalBlobStore> blobs_;
  std::unique_ptr<Services> services_;
  RequestContext ctx_;
};

TEST_F(SignedUrlTest, OnlyTheSignedUrlAuthorisesAnUploadUntilItExpires) {
  const ChunkRef ref{sha256(as_bytes("data")), 4};
  auto check = services_->chunks().check_chunks(ctx_, {{ref}, {}, {}});
  ASSERT_EQ(check->missing.size(), 1u);
  const auto q = query_of(check->missing[0].url);
  const std::string hex = ref.hash.hex();
  auto grant = services_->chunks().authorize_chunk_put(hex, q);
  ASSERT_TRUE(grant.has_value()) << grant.error().message();
  EXPECT_EQ(grant->size, 4u);
  EXPECT_EQ(grant->user_id, ctx_.user.user_id);

  for (const char* field : {"u", "n", "e", "s"}) {
    auto tampered = q;
    tampered[field] = field == std::string("s") ? std::string(64, '0') : "12345";
    auto r = services_->chunks().authorize_chunk_put(hex, tampered);
    ASSERT_FALSE(r.has_value()) << field;
    EXPECT_EQ(r.error().code(), ErrorCode::kPermissionDenied) << field;
    auto missing = q;
    missing.erase(field);
    EXPECT_FALSE(services_->chunks().authorize_chunk_put(hex, missing).has_value()) << field;
  }
  // Signed for another hash.
  EXPECT_FALSE(
      services_->chunks().authorize_chunk_put(sha256(as_bytes("other")).hex(), q).has_value());
  EXPECT_EQ(services_->chunks().authorize_chunk_put("xyz", q).error().code(),
            ErrorCode::kInvalidArgument);
  clock_.now += 3601;
  auto expired = services_->chunks().authorize_chunk_put(hex, q);
  ASSERT_FALSE(expired.has_value());
  EXPECT_NE(expired.error().message().find("expired"), std::string::npos);
}

TEST_F(SignedUrlTest, AnUploadThatCouldNotBeCommittedIsRefusedBeforeItsBytesTravel) {
  const ChunkRef ref{sha256(as_bytes("data")), 4};
  // No limit: nothing to say, nothing refused.
  auto open = services_->chunks().check_chunks(ctx_, {{ref}, {}, 1u << 30});
  ASSERT_TRUE(open.has_value());
  EXPECT_FALSE(open->quota_left.has_value());

  ASSERT_TRUE(services_->identity().set_quota(ctx_.user.name, 1000));
  auto fits = services_->chunks().check_chunks(ctx_, {{ref}, {}, 1000});
  ASSERT_TRUE(fits.has_value()) << fits.error().message();
  EXPECT_EQ(fits->quota_left, 1000u);
  EXPECT_EQ(fits->missing.size(), 1u);
  auto over = services_->chunks().check_chunks(ctx_, {{ref}, {}, 1001});
  ASSERT_FALSE(over.has_value());
  EXPECT_EQ(over.error().code(), ErrorCode::kQuotaExceeded);
  EXPECT_NE(over.error().message().find("1000"), std::string::npos) << over.error().message();
  // Without commit_bytes the check answers with what is left and lets the commit decide.
  auto plain = services_->chunks().check_chunks(ctx_, {{ref}, {}, {}});
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(plain->quota_left, 1000u);
}

TEST_F(SignedUrlTest, AKeyFromAnotherServerDoesNotVerify) {
  const ChunkRef ref{sha256(as_bytes("data")), 4};
  auto check = services_->chunks().check_chunks(ctx_, {{ref}, {}, {}});
  Services other(*metadata_, *blobs_, ServiceConfig{}, Bytes(32, std::byte{2}), clock_);
  EXPECT_FALSE(other.chunks().authorize_chunk_put(ref.hash.hex(), query_of(check->missing[0].url)));
}

TEST_F(SignedUrlTest, TokensAreRandomAndStoredOnlyAsHashes) {
  const std::string a = IdentityService::new_token();
  const std::string b = IdentityService::new_token();
  EXPECT_NE(a, b);
  EXPECT_EQ(a.size(), 6u + 64u);
  EXPECT_EQ(a.rfind("cairn_", 0), 0u);
  EXPECT_EQ(IdentityService::hash_token(a), sha256(as_bytes(a)));
}

}  // namespace
}  // namespace cairn::service
