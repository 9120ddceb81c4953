#pragma once

// Downloads one file version, by its manifest, to a local path outside the sync machinery: for
// `cairn restore --to` (and later `cairn get`). Every chunk is verified against its hash; the
// file is written under a temporary name beside the destination, made durable, and renamed into
// place only when complete.

#include <cstdint>
#include <string>

#include "cli/client/net/api_client.h"
#include "common/error.h"

namespace cairn::client {

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
