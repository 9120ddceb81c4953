#include "daemon/store/local_blob_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/unit/daemon/test_dir.h"

namespace cairn::store {
namespace {

namespace fs = std::filesystem;

size_t files_under(const std::string& dir) {
  size_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) n += e.is_regular_file() ? 1 : 0;
  return n;
}

class LocalBlobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { store_ = std::move(*LocalBlobStore::open(dir_.path())); }
  testing::TempDir dir_;
  std::unique_ptr<LocalBlobStore> store_;
};

TEST_F(LocalBlobStoreTest, PutGetRoundTripAndIdempotence) {
  const std::string text = "chunk bytes";
  const Digest d = sha256(as_bytes(text));
  ASSERT_TRUE(store_->put(d, as_bytes(text)));
  ASSERT_TRUE(store_->put(d, as_bytes(text)));  // Idempotent.
  auto got = store_->get(d);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(as_string_view(*got), text);
  EXPECT_TRUE(*store_->contains(d));
  auto info = store_->read_info(d);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->size, text.size());
  EXPECT_EQ(files_under(dir_.path() + "/chunks"), 1u);
  EXPECT_EQ(files_under(dir_.path() + "/tmp"), 0u);
}

TEST_F(LocalBlobStoreTest, HashMismatchStoresNothing) {
  const Digest wrong = sha256(as_bytes("something else"));
  auto r = store_->put(wrong, as_bytes("actual bytes"));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kCorrupt);
  EXPECT_FALSE(*store_->contains(wrong));
  EXPECT_EQ(files_under(dir_.path()), 0u);
}

TEST_F(LocalBlobStoreTest, StreamedWriteChecksSizeAndAbandonedWriterLeavesNothing) {
  const std::string text(100000, 'x');
  const Digest d = sha256(as_bytes(text));
  {
    auto w = store_->begin_put(d, text.size());
    ASSERT_TRUE(w.has_value());
    ASSERT_TRUE((*w)->write(as_bytes(std::string_view(text).substr(0, 5000))));
    // Destroyed without commit: the temporary file goes with it.
  }
  EXPECT_EQ(files_under(dir_.path()), 0u);
  auto w = store_->begin_put(d, 10);
  ASSERT_TRUE(w.has_value());
  auto too_long = (*w)->write(as_bytes(text));
  ASSERT_FALSE(too_long.has_value());
  EXPECT_EQ(too_long.error().code(), ErrorCode::kTooLarge);
  auto short_write = store_->begin_put(d, text.size());
  ASSERT_TRUE((*short_write)->write(as_bytes(std::string_view(text).substr(0, 10))));
  EXPECT_EQ((*short_write)->commit().error().code(), ErrorCode::kCorrupt);
}

TEST_F(LocalBlobStoreTest, DamagedChunkIsDetectedOnRead) {
  const std::string text = "precious";
  const Digest d = sha256(as_bytes(text));
  ASSERT_TRUE(store_->put(d, as_bytes(text)));
  {
    std::fstream f(store_->path_for(d), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(2);
    f.put('X');
  }
  auto got = store_->get(d);
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().code(), ErrorCode::kCorrupt);
  EXPECT_EQ(store_->get(sha256(as_bytes("absent"))).error().code(), ErrorCode::kNotFound);
}

TEST_F(LocalBlobStoreTest, OpenRemovesLeftoverTemporaryFiles) {
  std::ofstream(dir_.path() + "/tmp/123-4-5.tmp") << "half a chunk";
  auto reopened = LocalBlobStore::open(dir_.path());
  ASSERT_TRUE(reopened.has_value());
  EXPECT_EQ(files_under(dir_.path() + "/tmp"), 0u);
}

}  // namespace
}  // namespace cairn::store
