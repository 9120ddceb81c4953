#pragma once

// Reads a file once, cutting it into content-defined chunks and hashing each with SHA-256, and
// fingerprints the whole file with XXH3 in the same pass. Memory is bounded by the chunker's
// buffer (2 x max chunk size) whatever the file's size.

#include <cstdint>
#include <functional>
#include <string>

#include "common/chunker.h"
#include "common/error.h"
#include "common/manifest.h"

namespace cairn::client {

struct HashedFile {
  Manifest manifest;
  uint64_t xxh3 = 0;
  uint64_t size = 0;
};

// Called for each chunk as soon as it is hashed, from the hashing thread.
using ChunkCallback = std::function<void(const ChunkRef& chunk, uint64_t offset)>;

Result<HashedFile> hash_file(const std::string& path, const ChunkerParams& params,
                             const ChunkCallback& on_chunk = nullptr);

// XXH3-64 of a whole file, for a quick "did the bytes really change?" check.
Result<uint64_t> fingerprint_file(const std::string& path);

}  // namespace cairn::client
