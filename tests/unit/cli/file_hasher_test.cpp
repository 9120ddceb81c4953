#include "cli/client/tree/file_hasher.h"

#include <gtest/gtest.h>

#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/unit/daemon/test_dir.h"

namespace cairn::client {
namespace {

TEST(FileHasherTest, ManifestMatchesTheBytesAndFingerprintAgrees) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/f.bin";
  std::mt19937_64 rng(3);
  std::string data(3 << 20, '\0');
  for (auto& c : data) c = static_cast<char>(rng());
  std::ofstream(path, std::ios::binary) << data;

  const ChunkerParams params{.min_size = 16384, .avg_size = 65536, .max_size = 262144};
  std::vector<uint64_t> offsets;
  auto hashed = hash_file(path, params,
                          [&](const ChunkRef&, uint64_t off, ByteView) { offsets.push_back(off); });
  ASSERT_TRUE(hashed.has_value());
  EXPECT_EQ(hashed->size, data.size());
  EXPECT_EQ(hashed->manifest.total_size(), data.size());
  EXPECT_GT(hashed->manifest.chunks().size(), 20u);
  ASSERT_EQ(offsets.size(), hashed->manifest.chunks().size());
  uint64_t off = 0;
  for (size_t i = 0; i < offsets.size(); ++i) {
    const auto& c = hashed->manifest.chunks()[i];
    EXPECT_EQ(offsets[i], off);
    EXPECT_EQ(c.hash, sha256(as_bytes(std::string_view(data).substr(off, c.length))));
    off += c.length;
  }
  EXPECT_EQ(hashed->xxh3, xxh3_64(as_bytes(data)));
  EXPECT_EQ(*fingerprint_file(path), hashed->xxh3);
  EXPECT_EQ(hash_file(dir.path() + "/missing", params).error().code(), ErrorCode::kIo);
}

}  // namespace
}  // namespace cairn::client

namespace cairn::client {
namespace {

TEST(FileHasherTest, ParallelHashingGivesTheSameManifest) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/big.bin";
  std::mt19937_64 rng(11);
  std::string data(kParallelHashMinBytes + (3 << 20), '\0');
  for (auto& c : data) c = static_cast<char>(rng());
  std::ofstream(path, std::ios::binary) << data;
  const ChunkerParams params{.min_size = 16384, .avg_size = 65536, .max_size = 262144};

  auto sequential = hash_file(path, params);
  HashPool pool(3);
  std::mutex mu;
  std::set<uint64_t> offsets;
  auto parallel = hash_file(
      path, params,
      [&](const ChunkRef& ref, uint64_t off, ByteView bytes) {
        // The bytes handed over are the chunk's own.
        const bool match = bytes.size() == ref.length && sha256(bytes) == ref.hash;
        std::lock_guard lock(mu);
        if (match) offsets.insert(off);
      },
      &pool);
  ASSERT_TRUE(sequential.has_value());
  ASSERT_TRUE(parallel.has_value());
  EXPECT_EQ(parallel->manifest, sequential->manifest);
  EXPECT_EQ(parallel->xxh3, sequential->xxh3);
  EXPECT_EQ(parallel->size, data.size());
  EXPECT_EQ(offsets.size(), sequential->manifest.chunks().size());
}

TEST(FileHasherTest, TheFingerprintIsTheHashersWhateverTheFileSize) {
  // Read in pieces smaller than some files: every size around a piece's edge gives the same
  // fingerprint as hashing the file does.
  testing::TempDir dir;
  const ChunkerParams params{.min_size = 16384, .avg_size = 65536, .max_size = 262144};
  std::mt19937_64 rng(5);
  for (size_t size : {size_t{0}, size_t{1}, size_t{256 << 10}, size_t{(256 << 10) + 1},
                      size_t{(1 << 20) + 12345}}) {
    std::string data(size, '\0');
    for (auto& c : data) c = static_cast<char>(rng());
    const std::string path = dir.path() + "/f" + std::to_string(size);
    std::ofstream(path, std::ios::binary) << data;
    auto hashed = hash_file(path, params);
    auto fp = fingerprint_file(path);
    ASSERT_TRUE(hashed.has_value());
    ASSERT_TRUE(fp.has_value()) << fp.error().message();
    EXPECT_EQ(*fp, hashed->xxh3) << size;
    EXPECT_EQ(*fp, xxh3_64(as_bytes(data))) << size;
  }
  EXPECT_FALSE(fingerprint_file(dir.path() + "/absent").has_value());
}

TEST(FileHasherTest, LargeFilesFromSeveralThreadsTakeThePoolInTurn) {
  // Hashers that meet two large files at once: each file still gets its own manifest, and
  // neither waits forever for the other to give the pool back.
  testing::TempDir dir;
  const ChunkerParams params{.min_size = 16384, .avg_size = 65536, .max_size = 262144};
  std::vector<std::string> paths;
  for (int i = 0; i < 3; ++i) {
    std::mt19937_64 rng(100 + i);
    std::string data(kParallelHashMinBytes + (1 << 20), '\0');
    for (auto& c : data) c = static_cast<char>(rng());
    paths.push_back(dir.path() + "/big" + std::to_string(i) + ".bin");
    std::ofstream(paths.back(), std::ios::binary) << data;
  }
  HashPool pool(2);
  std::vector<Result<HashedFile>> hashed(paths.size(), make_error(ErrorCode::kInternal, "unset"));
  std::vector<std::thread> hashers;
  for (size_t i = 0; i < paths.size(); ++i) {
    hashers.emplace_back([&, i] { hashed[i] = hash_file(paths[i], params, nullptr, &pool); });
  }
  for (auto& t : hashers) t.join();
  for (size_t i = 0; i < paths.size(); ++i) {
    auto alone = hash_file(paths[i], params);
    ASSERT_TRUE(alone.has_value());
    ASSERT_TRUE(hashed[i].has_value()) << hashed[i].error().message();
    EXPECT_EQ(hashed[i]->manifest, alone->manifest) << paths[i];
  }
}

}  // namespace
}  // namespace cairn::client
