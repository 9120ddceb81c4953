// Conformance suite for BlobStore: every backend runs these. A new backend adds one line to the
// INSTANTIATE at the bottom. Backend-specific behaviour (file layout, pre-signed URLs) is tested
// in local_blob_store_test.cpp and s3_blob_store_test.cpp.

#include "daemon/store/blob_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tests/unit/daemon/backends.h"
#include "tests/unit/daemon/test_dir.h"

namespace cairn::store {
namespace {

using testing::Backend;
using testing::backend_name;

class BlobStoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    std::string url = dir_.path() + "/blobs";
    if (!GetParam().requires_server.empty()) {
      CAIRN_REQUIRE_BACKEND(GetParam().requires_server);
      bucket_.emplace();
      url = bucket_->url();
    }
    auto opened = open_blob_store(url);
    ASSERT_TRUE(opened.has_value()) << opened.error().message();
    store_ = std::move(*opened);
  }

  testing::TempDir dir_;
  std::optional<testing::ScratchBucket> bucket_;
  std::unique_ptr<BlobStore> store_;
};

TEST_P(BlobStoreTest, PutGetStatAndIdempotence) {
  const std::string text = "chunk bytes";
  const Digest d = sha256(as_bytes(text));
  EXPECT_FALSE(*store_->contains(d));
  EXPECT_FALSE(store_->stat(d)->has_value());
  ASSERT_TRUE(store_->put(d, as_bytes(text)));
  ASSERT_TRUE(store_->put(d, as_bytes(text)));  // Idempotent.
  auto got = store_->get(d);
  ASSERT_TRUE(got.has_value()) << got.error().message();
  EXPECT_EQ(as_string_view(*got), text);
  EXPECT_TRUE(*store_->contains(d));
  EXPECT_EQ(**store_->stat(d), text.size());
  auto info = store_->read_info(d);
  ASSERT_TRUE(info.has_value());
  EXPECT_TRUE(!info->file_path.empty() || !info->redirect_url.empty());
}

TEST_P(BlobStoreTest, HashMismatchStoresNothing) {
  const Digest wrong = sha256(as_bytes("something else"));
  auto r = store_->put(wrong, as_bytes("actual bytes"));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kCorrupt);
  EXPECT_FALSE(*store_->contains(wrong));
}

TEST_P(BlobStoreTest, StreamedWriteChecksSize) {
  const std::string text(100000, 'x');
  const Digest d = sha256(as_bytes(text));
  {
    auto w = store_->begin_put(d, text.size());
    ASSERT_TRUE(w.has_value());
    ASSERT_TRUE((*w)->write(as_bytes(std::string_view(text).substr(0, 5000))));
    // Destroyed without commit: nothing becomes visible.
  }
  EXPECT_FALSE(*store_->contains(d));
  auto w = store_->begin_put(d, 10);
  ASSERT_TRUE(w.has_value());
  auto too_long = (*w)->write(as_bytes(text));
  ASSERT_FALSE(too_long.has_value());
  EXPECT_EQ(too_long.error().code(), ErrorCode::kTooLarge);
  auto short_write = store_->begin_put(d, text.size());
  ASSERT_TRUE((*short_write)->write(as_bytes(std::string_view(text).substr(0, 10))));
  EXPECT_EQ((*short_write)->commit().error().code(), ErrorCode::kCorrupt);
  EXPECT_FALSE(*store_->contains(d));
}

TEST_P(BlobStoreTest, AbsentChunkIsNotFound) {
  EXPECT_EQ(store_->get(sha256(as_bytes("absent"))).error().code(), ErrorCode::kNotFound);
}

TEST_P(BlobStoreTest, ConcurrentWritersOfOneChunkAgree) {
  const std::string text(300000, 'q');
  const Digest d = sha256(as_bytes(text));
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      if (store_->put(d, as_bytes(text))) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 4);
  auto got = store_->get(d);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(sha256(*got), d);
}

TEST_P(BlobStoreTest, PacksAreObjectsOfTheirOwnKindWithRanges) {
  const std::string text = "0123456789abcdefghij";
  const Digest d = sha256(as_bytes(text));
  const ObjectId pack = ObjectId::pack(d);
  ASSERT_TRUE(store_->put(pack, as_bytes(text)));
  // The same digest as a chunk is another object.
  EXPECT_FALSE(*store_->contains(d));
  EXPECT_TRUE(*store_->contains(pack));
  EXPECT_EQ(as_string_view(*store_->get(pack)), text);
  auto range = store_->get_range(pack, {10, 6});
  ASSERT_TRUE(range.has_value()) << range.error().message();
  EXPECT_EQ(as_string_view(*range), "abcdef");
  auto past_end = store_->get_range(pack, {15, 10});
  ASSERT_FALSE(past_end.has_value());
  EXPECT_EQ(past_end.error().code(), ErrorCode::kCorrupt);
  EXPECT_EQ(store_->get_range(ObjectId::pack(sha256(as_bytes("absent"))), {0, 1}).error().code(),
            ErrorCode::kNotFound);
  auto info = store_->read_info(pack, ByteRange{10, 6});
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->offset, 10u);
  EXPECT_EQ(info->size, 6u);
  ASSERT_TRUE(store_->remove(pack));
  ASSERT_TRUE(store_->remove(pack));  // Absent is fine.
  EXPECT_FALSE(*store_->contains(pack));
}

INSTANTIATE_TEST_SUITE_P(All, BlobStoreTest,
                         ::testing::Values(Backend{"Local", ""}, Backend{"S3", "s3"}),
                         backend_name);

}  // namespace
}  // namespace cairn::store
