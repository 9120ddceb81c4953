#pragma once

// Walks a working copy with lstat only (no file is opened), so that a scan of an unchanged tree
// costs one stat per entry. Symlinks are reported as links and never followed.

#include <cstdint>
#include <string>
#include <vector>

#include "cli/client/state/local_state.h"
#include "common/error.h"
#include "common/protocol/protocol.h"

namespace cairn::client {

struct LocalEntry {
  std::string path;  // Relative, '/'-separated.
  protocol::NodeKind kind = protocol::NodeKind::kFile;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  uint64_t inode = 0;
  uint32_t mode = 0;
  std::string target;  // Symlinks.
};

struct ScanResult {
  std::vector<LocalEntry> entries;   // Sorted by path; parents before children.
  std::vector<std::string> skipped;  // "path: reason", for entries Cairn cannot sync.
  uint64_t ignored = 0;              // Entries a .cairnignore excludes (not descended into).
};

// Scans everything under `root` except the .cairn folder and what .cairnignore files exclude.
Result<ScanResult> scan_tree(const std::string& root);

// Takes out of `scan` what is at or under `detached` (folders whose share ended: kept here, not
// synced), noting each once in `scan.skipped`. Detached paths no longer here (moved or deleted
// by the user) are dropped from `detached`; returns whether it changed.
bool set_aside_detached(ScanResult& scan, std::vector<std::string>& detached);

// lstat of one path as a LocalEntry; kNotFound if absent.
Result<LocalEntry> stat_entry(const std::string& root, const std::string& rel);

// Whether two modes have the same permission bits, the part of a mode that travels
// (protocol::kPermissionBits): a chmod is a change to send, setuid and the like are not.
inline bool same_permissions(uint32_t a, uint32_t b) {
  return ((a ^ b) & protocol::kPermissionBits) == 0;
}

// True if `a` and `b` describe the same unchanged entry (size, mtime, inode, mode, target).
bool same_stat(const LocalEntry& a, uint64_t size, int64_t mtime_ns, uint64_t inode, uint32_t mode,
               const std::string& target, protocol::NodeKind kind);
// The same comparison against another entry, or against what a base record remembers.
bool same_stat(const LocalEntry& a, const LocalEntry& b);
bool same_stat(const LocalEntry& a, const BaseRecord& b);

// A stat taken within this much of its file's modification time cannot vouch for the file's
// content: the file may change again within the file system's timestamp granularity (a jiffy on
// Linux, a second or two elsewhere) and keep its size and mtime. Such a record is made with
// mtime 0, so that the next look compares content instead (git's "racily clean" entries).
inline constexpr int64_t kRacyWindowNs = 2'000'000'000;

// A base record for `st` as synced at server `version` of node `node_id` (no manifest yet);
// mtime 0 for a file or symlink modified within kRacyWindowNs of now.
BaseRecord base_from_stat(const LocalEntry& st, int64_t version, int64_t node_id);

// Whether the entry at `now` is still what `b` recorded: by stat, or for a file of the same size
// and mode whose stat differs (touched, or recorded in the racy window) by its whole-file
// fingerprint.
bool unchanged_since(const std::string& root, const LocalEntry& now, const BaseRecord& b);

}  // namespace cairn::client
