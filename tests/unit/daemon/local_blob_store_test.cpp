#include "daemon/store/local_blob_store.h"

#include <gtest/gtest.h>

#include <chrono>
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

// The layout on disk; the behaviour every store shares is in blob_store_test.cpp.
TEST_F(LocalBlobStoreTest, OneFilePerChunkAndNoTemporaryFilesLeft) {
  const std::string text = "chunk bytes";
  const Digest d = sha256(as_bytes(text));
  ASSERT_TRUE(store_->put(d, as_bytes(text)));
  ASSERT_TRUE(store_->put(d, as_bytes(text)));
  EXPECT_EQ(files_under(dir_.path() + "/chunks"), 1u);
  EXPECT_EQ(files_under(dir_.path() + "/tmp"), 0u);
  EXPECT_EQ(store_->read_info(d)->file_path, store_->path_for(d));
  const Digest wrong = sha256(as_bytes("something else"));
  ASSERT_FALSE(store_->put(wrong, as_bytes("actual bytes")));
  {
    auto w = store_->begin_put(d, 100);
    ASSERT_TRUE((*w)->write(as_bytes("partial")));
  }
  EXPECT_EQ(files_under(dir_.path()), 1u);
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

TEST_F(LocalBlobStoreTest, OpenRemovesLeftoverTemporaryFilesButNotOnesInFlight) {
  const std::string old_file = dir_.path() + "/tmp/123-4-5.tmp";
  const std::string new_file = dir_.path() + "/tmp/456-7-8.tmp";
  std::ofstream(old_file) << "half a chunk";
  std::ofstream(new_file) << "another process's upload";
  std::filesystem::last_write_time(
      old_file, std::filesystem::file_time_type::clock::now() - std::chrono::hours(2));
  auto reopened = LocalBlobStore::open(dir_.path());
  ASSERT_TRUE(reopened.has_value());
  EXPECT_FALSE(std::filesystem::exists(old_file));
  EXPECT_TRUE(std::filesystem::exists(new_file));  // An admin command must not break serve.
}

}  // namespace
}  // namespace cairn::store
