#pragma once

// Reads a file once, cutting it into content-defined chunks and hashing each with SHA-256, and
// fingerprints the whole file with XXH3 in the same pass. Memory is bounded by the chunker's
// buffer (2 x max chunk size) whatever the file's size.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/chunker.h"
#include "common/error.h"
#include "common/manifest.h"

namespace cairn::client {

// Threads that SHA-256 chunk copies for hash_file, shared by every file of one operation, so that
// one large file still uses every core: the boundary search is sequential, the hashing is not.
class HashPool {
 public:
  explicit HashPool(int threads);
  ~HashPool();
  HashPool(const HashPool&) = delete;
  HashPool& operator=(const HashPool&) = delete;

  void submit(std::function<void()> job);
  int threads() const { return static_cast<int>(workers_.size()); }

  // One large file at a time goes through the pool: it already keeps every thread busy, and
  // each one in progress holds its chunker's window and chunk copies (about 20 MiB), so that two
  // at once only cost memory. Hashers with small files go on meanwhile.
  std::unique_lock<std::mutex> take_for_one_file() { return std::unique_lock(one_file_); }

 private:
  std::mutex one_file_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

// Files at least this large are hashed through the pool when one is given.
inline constexpr uint64_t kParallelHashMinBytes = 16 << 20;

struct HashedFile {
  Manifest manifest;
  uint64_t xxh3 = 0;
  uint64_t size = 0;
};

// Called for each chunk as soon as it is hashed, with its bytes (valid during the call only):
// from the calling thread, or (with a pool) from a pool thread, in any order. Must be thread-safe
// when a pool is given.
using ChunkCallback = std::function<void(const ChunkRef& chunk, uint64_t offset, ByteView bytes)>;

// With `pool` and a file of at least kParallelHashMinBytes, chunks are copied (at most one per
// pool thread and one more in flight) and hashed in parallel; the manifest is the same either way.
Result<HashedFile> hash_file(const std::string& path, const ChunkerParams& params,
                             const ChunkCallback& on_chunk = nullptr, HashPool* pool = nullptr);

// XXH3-64 of a whole file, for a quick "did the bytes really change?" check.
Result<uint64_t> fingerprint_file(const std::string& path);

}  // namespace cairn::client
