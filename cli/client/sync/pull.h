#pragma once

#include "cli/client/printer.h"
#include "cli/client/reports.h"
#include "cli/client/state/session.h"

namespace cairn::client {

struct PullOptions {
  int transfer_threads = 4;  // Parallel chunk downloads.
};

// Applies remote changes since the saved cursor. Every chunk is verified against its hash;
// chunks already present in local files are copied instead of downloaded; each file is written
// to a temporary file and renamed into place only if the local file has not changed since the
// pull looked at it. Local edits are never overwritten: they are reported as conflicts and
// stay as they are. Files deleted on the server go to .cairn/trash, not to oblivion.
Result<SyncReport> pull(Session& session, const PullOptions& options, Printer& printer,
                        const std::string& command = "pull");

}  // namespace cairn::client
