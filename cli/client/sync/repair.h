#pragma once

// Self-healing from the client's side: sending back chunks the server lost.
//
// When the server finds a stored chunk damaged or missing (a read that does not verify, or
// `cairnd check`), it forgets that copy and lists, per user, the current files that need it
// (GET /v1/repairs). Every push asks. For each listed file that this working copy holds, the
// local file is read again and cut as the server cuts; each chunk that hashes to a lost one is
// uploaded on its own (never in a pack, so that the server, or the blob store by its checksum,
// verifies it), which makes the chunk whole again for everyone who needs it.

#include <cstdint>
#include <string>
#include <vector>

#include "cli/client/state/session.h"
#include "common/chunker.h"

namespace cairn::client {

struct RepairReport {
  uint64_t chunks_repaired = 0;
  uint64_t chunks_wanted = 0;       // Lost chunks of files this working copy maps.
  std::vector<std::string> errors;  // "path: why", for files that could not be read or sent.
};

// Finds and sends what the server lost that this working copy holds. Nothing to do (nearly
// always) costs one request. A server without the endpoint, or a token that may not upload,
// repairs nothing and is not an error.
Result<RepairReport> repair_lost_chunks(Session& session, ApiClient& api,
                                        const ChunkerParams& chunking);

}  // namespace cairn::client
