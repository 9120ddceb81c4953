#pragma once

// What a push decides, apart from what it does. From the scan of the working copy, the base
// records of the last sync and the folders others share with this user, the plan says which
// renames and moves happened here, whether the push would delete too much, and what each path
// needs: sent, made, deleted, its record refreshed, or kept here and reported. It reads no
// server and writes nothing; the only look at the disk is the `Fingerprint` callback, which
// tests answer from a table (tests/unit/cli/push_plan_test.cpp). push.cpp executes the plan.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cli/client/state/local_state.h"
#include "cli/client/sync/committer.h"
#include "cli/client/tree/scanner.h"
#include "common/error.h"

namespace cairn::client {

// The whole-file fingerprint (xxh3) of a working-copy path; nullopt if it cannot be read.
using Fingerprint = std::function<std::optional<uint64_t>(const std::string& rel)>;

// A rename or move made in the working copy, to repeat on the server.
struct LocalMove {
  std::string from;
  std::string to;
  int64_t node_id = 0;
  bool folder = false;
};

// The folders (and files) of this working copy that others share with us (relative paths; ""
// for the whole working copy). Changes in those shared with us as a viewer stay here; what is
// in any of them is charged to their owners' quotas.
class SharedAreas {
 public:
  // `why` is what to tell the user about a change kept here (viewers only).
  void add(std::string rel, bool read_only, std::string why = {});

  // Why a change at `rel` cannot be sent (it lies in a folder shared read-only), or null.
  const std::string* refused_at(const std::string& rel) const;
  // `rel` is itself a read-only shared folder or file: a viewer may move it (the mount is
  // theirs), though nothing inside it.
  bool is_mount(const std::string& rel) const;
  // `rel` lies in something shared with us: its bytes count against its owner's quota.
  bool theirs(const std::string& rel) const;
  // The user moved `from` to `to` (and the server agreed): the areas at or under it follow.
  void moved(const std::string& from, const std::string& to);

 private:
  std::vector<std::pair<std::string, std::string>> read_only_;  // With what to say.
  std::vector<std::string> all_;
};

// Finds synced paths that now live elsewhere: the base path is gone and a path the base does not
// know holds the same inode, kind, size and modification time (a rename), or the same bytes
// (same size and whole-file fingerprint: a copy and a delete, or a rename that touched it).
// An inode alone is not enough: a file deleted and another created may share one. A folder
// matches by inode when a file of it is found inside the new folder under the same inode (or it
// held no files). Folders first, one at a time, shallowest first, since a folder's move carries
// its subtree; then files. `base` is rewritten as the moves say.
std::vector<LocalMove> find_local_moves(const ScanResult& scan,
                                        std::map<std::string, BaseRecord>& base,
                                        const Fingerprint& fingerprint);

// The scan and the base name the same paths: nothing was added, deleted, renamed or moved (a
// no-change push, or edits only), so there are no moves to look for.
bool same_paths(const ScanResult& scan, const std::map<std::string, BaseRecord>& base);

// Drops the moves a viewer may not make: into, out of or inside a read-only shared folder,
// except moving the shared folder itself (not into another one).
void drop_refused_moves(std::vector<LocalMove>& moves, const SharedAreas& shared);

// Refuses (kInvalidArgument, nothing sent) a push that would delete more than `limit` synced
// files, or more than half of them when that is more than one, unless `allow`: the guard against
// pushing from a stale or wrongly restored working copy. `planned` is the base after the moves.
Result<void> guard_mass_delete(const ScanResult& scan,
                               const std::map<std::string, BaseRecord>& planned, uint64_t limit,
                               bool allow);

// The record `b` with the stat of `e`: for a file whose bytes did not change.
BaseRecord refreshed_record(const BaseRecord& b, const LocalEntry& e);

// Reassigns `base` records at `from` and under it to `to`. By value: callers pass keys of
// `base`, which this erases.
void rebase(std::map<std::string, BaseRecord>& base, const std::string from, const std::string to);

// What each path of the scan needs, against `base` (the records after the moves were made).
struct PushPlan {
  // Files and symlinks to hash (files), upload and commit, in path order.
  std::vector<PendingPut> candidates;
  // Records to refresh: the stat changed, the bytes did not (a touch, a folder above renamed).
  std::vector<BaseRecord> refreshed;
  // Folders to make, or whose mode changed here: a mkdir with the mode does either.
  std::vector<const LocalEntry*> new_folders;
  // Deletions that go before anything else, since a new node of another kind takes the name:
  // each folder turned file (after what this copy knew inside it) and each file turned folder.
  std::vector<const BaseRecord*> delete_first;
  // Deleted here: delete on the server after the files are sent, deepest first.
  std::vector<const BaseRecord*> deletions;
  // Bytes the candidates add to this user's own quota (shared folders count for their owners).
  uint64_t quota_growth = 0;
  uint64_t files_scanned = 0;
  uint64_t files_deferred = 0;       // Modified within the settle time: left for the next push.
  uint64_t changes_unsent = 0;       // In read-only shared folders: kept here.
  std::vector<std::string> skipped;  // What to tell the user about the two above, in order.
};

// When a file counts as settled: modified at least `settle_ms` before `now_ns` (ns since the
// epoch). A settle time of 0 sends everything.
struct SettleRule {
  int64_t now_ns = 0;
  int64_t settle_ms = 0;
};

// Classifies the scan by stat alone (a file whose size, mtime, inode and mode match its record
// is not opened); files not yet settled wait for the next push. `fingerprint` is asked only
// about a changed file in a read-only folder, to tell a touch from an edit.
PushPlan plan_push(const ScanResult& scan, const std::map<std::string, BaseRecord>& base,
                   const SharedAreas& shared, const SettleRule& settle,
                   const Fingerprint& fingerprint);

}  // namespace cairn::client
