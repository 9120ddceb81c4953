#pragma once

// What client operations report back: the Printer turns these into text or one JSON document.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace cairn::client {

struct SyncReport {
  std::string command;  // "push", "pull", "clone"
  uint64_t files_scanned = 0;
  uint64_t files_changed = 0;  // Uploaded (push) or written locally (pull).
  uint64_t files_deleted = 0;
  uint64_t folders_created = 0;
  uint64_t chunks_total = 0;  // Chunks in the changed files.
  uint64_t chunks_sent = 0;
  uint64_t chunks_received = 0;
  uint64_t chunks_reused = 0;   // Pull: copied from local files instead of downloaded.
  uint64_t bytes_total = 0;     // Bytes in the changed files.
  uint64_t bytes_sent = 0;      // Chunk bytes uploaded (before compression).
  uint64_t bytes_uploaded = 0;  // Bytes of objects uploaded: chunks, and packs compressed.
  uint64_t packs_sent = 0;
  uint64_t bytes_received = 0;  // Chunk bytes downloaded.
  uint64_t bytes_deduplicated = 0;
  uint64_t files_deferred = 0;   // Push: still changing; left for the next push.
  uint64_t changes_unsent = 0;   // Push: local changes refused here (a viewer's), kept, not sent.
  uint64_t chunks_repaired = 0;  // Push: chunks the server lost, sent back from local files.
  int64_t elapsed_ms = 0;
  std::vector<std::string> changed;  // Paths uploaded or written.
  std::vector<std::string> deleted;
  std::vector<std::string> moved;         // "from -> to": renames and moves, applied as such
  std::vector<std::string> conflicts;     // "path: why"
  std::vector<std::string> errors;        // "path: why"
  std::vector<std::string> skipped;       // "path: why"
  std::vector<std::string> shares_ended;  // Pull: folders kept here, no longer synced.
  bool corrupt = false;                   // Some error is data that failed verification.
  bool no_space = false;  // Some error is a full disk (here or the server's) or the quota.
};

// Notes the kind of an error the server answered for one path (`code`: an error_code_name): a
// refusal for want of room (the quota, the server's storage) makes the command exit 8, not 1.
// `Report`: a SyncReport, or a part of one with its own `no_space`.
template <typename Report>
void note_error_kind(Report& report, std::string_view code) {
  const ErrorCode kind = error_code_from_name(code);
  if (kind == ErrorCode::kQuotaExceeded || kind == ErrorCode::kStorageFull) {
    report.no_space = true;
  }
}

// One reconcile round of `cairn sync`: a pull, then a push.
struct SyncRound {
  SyncReport pull;
  SyncReport push;
  bool in_sync = false;                        // Nothing was left to do: local and remote agree.
  std::vector<std::string> conflicted_copies;  // Present in the working copy.
};

struct PathChange {
  std::string path;
  std::string change;  // "added", "modified", "deleted"
};

struct StatusReport {
  std::string root;
  std::string server;
  std::string remote_root;
  std::vector<PathChange> local;   // Not yet pushed.
  std::vector<PathChange> remote;  // Not yet pulled.
  bool remote_checked = false;     // The server was asked, and answered.
  std::string remote_error;        // Why it could not be asked, if it could not.
  std::vector<std::string> skipped;
  std::vector<std::string> conflicts;  // Conflicted copies in the working copy.
};

}  // namespace cairn::client
