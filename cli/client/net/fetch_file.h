#pragma once

// Downloads one file version, by its manifest, to a local path outside the sync machinery: for
// `cairn restore --to` (and later `cairn get`). Every chunk is verified against its hash; the
// file is written under a temporary name beside the destination, made durable, and renamed into
// place only when complete.

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_set>
#include <vector>

#include "cli/client/net/api_client.h"
#include "common/error.h"

namespace cairn::client {

// Reads the distinct chunks `wanted`, read for the files whose manifests are `manifests` (what
// lets the server hand out chunks of files the caller may read but never uploaded), in batches
// of `batch`, and hands each to `deliver` once it is decoded and hashes to its address. A chunk
// that does not is put in `corrupt` and not delivered; one the server does not locate is not
// delivered either (the caller checks what it got). `received` grows by the bytes delivered.
Result<void> read_chunks(ApiClient& api, const std::vector<ChunkRef>& wanted,
                         const std::vector<Digest>& manifests, size_t batch,
                         const std::function<Result<void>(const Digest&, ByteView)>& deliver,
                         std::unordered_set<Digest>& corrupt, uint64_t& received);

struct FetchedFile {
  uint64_t size = 0;
  uint64_t chunks = 0;
};

// `mode`: the version's permission bits, which the file gets exactly (no umask).
// kAlreadyExists if `dest` exists (nothing is overwritten); kCorrupt if a chunk fails
// verification; kNotFound if the server no longer gives out the manifest or a chunk.
Result<FetchedFile> fetch_file(ApiClient& api, const std::string& manifest_hex, uint64_t size,
                               uint32_t mode, const std::string& dest);

}  // namespace cairn::client
