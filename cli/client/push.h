#pragma once

#include "cli/client/printer.h"
#include "cli/client/reports.h"
#include "cli/client/session.h"

namespace cairn::client {

struct PushOptions {
  int hash_threads = 0;      // 0: one per core.
  int transfer_threads = 4;  // Parallel chunk uploads, each on its own keep-alive connection.
};

// Uploads local changes: scan (stat only) -> chunk and hash changed files on all cores -> ask
// the server which chunks it lacks -> PUT those, several at once, while hashing continues ->
// stage and commit the files in batches. A file the server changed meanwhile is reported as a
// conflict and left as it is on both sides.
Result<SyncReport> push(Session& session, const PushOptions& options, Printer& printer);

}  // namespace cairn::client
