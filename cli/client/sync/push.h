#pragma once

#include "cli/client/printer.h"
#include "cli/client/reports.h"
#include "cli/client/state/session.h"

namespace cairn::client {

struct PushOptions {
  int hash_threads = 0;      // 0: one per core.
  int transfer_threads = 4;  // Parallel chunk uploads, each on its own keep-alive connection.
  // Without it, a push that would delete more than half of the synced files (when that is more
  // than one) or more than kMassDeleteLimit is refused before it changes anything: the guard
  // against pushing from a stale or wrongly restored working copy.
  bool allow_mass_delete = false;
  // Files modified less than this long ago are left for the next push (counted in
  // files_deferred): they may still be being written. 0 sends everything (a file that changes
  // while it is read is left for the next push either way).
  int64_t settle_ms = 0;
};

inline constexpr uint64_t kMassDeleteLimit = 1000;

// Uploads local changes: scan (stat only) -> chunk and hash changed files on all cores -> ask
// the server which chunks it lacks -> PUT those, several at once, while hashing continues ->
// commit the files in batches. Local renames and moves (found by inode, or by content when a
// file was copied and deleted) are sent as moves: metadata only, history kept. A file the
// server changed meanwhile is kept there as a conflicted copy, and the local file takes the
// copy's name.
Result<SyncReport> push(Session& session, const PushOptions& options, Printer& printer);

}  // namespace cairn::client
