#pragma once

// The working copy's memory, in DIR/.cairn/state.db (SQLite): settings, the cursor, and for each
// path the base record of what was last synced. A file whose stat still matches its base record
// is not read again. One thread at a time; ChunkLocator gives workers their own connection.

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/error.h"
#include "common/hash.h"
#include "common/manifest.h"
#include "common/protocol/protocol.h"

namespace cairn::sqlite {
class Database;
}

namespace cairn::client {

using protocol::NodeKind;

inline constexpr const char* kStateDir = ".cairn";

// What a path looked like when it was last synced, and what the server called it.
struct BaseRecord {
  std::string path;  // Relative to the working copy root, '/'-separated, no leading '/'.
  NodeKind kind = NodeKind::kFile;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  uint64_t inode = 0;
  uint32_t mode = 0;
  std::optional<Digest> manifest;  // Files (stored as hex).
  uint64_t xxh3 = 0;               // Whole-file fingerprint (files).
  std::string target;              // Symlinks.
  int64_t version = 0;             // Server version this base corresponds to.
  int64_t node_id = 0;
};

// The paths of `base` at `path` and under it ("path/..."), in order. Not a plain range from
// base.lower_bound(path): the map sorts "a b" and "a.txt" between "a" and "a/x".
std::vector<std::string> subtree_paths(const std::map<std::string, BaseRecord>& base,
                                       const std::string& path);

// A place in the working copy where a chunk's bytes were last seen.
struct ChunkLocation {
  std::string path;
  uint64_t offset = 0;
  uint32_t length = 0;
};

// Changes to the base records, kept in the order they are made: for each path the last one
// wins. A command that both records a path and later forgets it (a file moved here, then to the
// trash) must never leave a record of a file it does not hold.
class BaseChanges {
 public:
  void put(BaseRecord b);
  void drop(const std::string& path);
  std::vector<BaseRecord> upserts() const;
  std::vector<std::string> removals() const;
  bool empty() const { return last_.empty(); }
  void clear() { last_.clear(); }

 private:
  std::map<std::string, std::optional<BaseRecord>> last_;
};

class LocalState {
 public:
  // Creates DIR/.cairn/state.db. kAlreadyExists if DIR is already a working copy.
  static Result<std::unique_ptr<LocalState>> create(const std::string& root,
                                                    const std::string& server,
                                                    const std::string& remote_root);
  static Result<std::unique_ptr<LocalState>> open(const std::string& root);
  // The working copy containing `dir` (walking up), or kNotFound.
  static Result<std::string> find_root(const std::string& dir);
  ~LocalState();

  const std::string& root() const { return root_; }

  // Takes the working copy's exclusive lock (.cairn/lock) for the life of this object, so that
  // two commands never write the same working copy at once, then removes partial downloads an
  // interrupted command left in .cairn/tmp. kUnavailable if another command holds the lock.
  Result<void> lock_for_writing();
  std::string state_dir() const { return root_ + "/" + kStateDir; }

  Result<std::string> setting(const std::string& key, const std::string& fallback = "");
  Result<void> set_setting(const std::string& key, const std::string& value);

  // Folders (and files) whose share ended: kept here as the user's own files and no longer
  // synced, until the user moves or deletes them (relative paths, sorted).
  Result<std::vector<std::string>> detached();
  Result<void> set_detached(const std::vector<std::string>& paths);

  Result<std::map<std::string, BaseRecord>> load_base();
  // Applies base changes and chunk locations in one transaction: removals, then upserts.
  Result<void> update(const std::vector<BaseRecord>& upserts,
                      const std::vector<std::string>& removals,
                      const std::vector<std::pair<std::string, Manifest>>& chunk_maps);
  Result<void> update(const BaseChanges& changes,
                      const std::vector<std::pair<std::string, Manifest>>& chunk_maps) {
    return update(changes.upserts(), changes.removals(), chunk_maps);
  }

 private:
  LocalState(std::string root, std::unique_ptr<sqlite::Database> db);
  std::string root_;
  std::unique_ptr<sqlite::Database> db_;
  int lock_fd_ = -1;
};

// Finds local copies of chunks, for pull to reuse instead of downloading. Thread-safe.
class ChunkLocator {
 public:
  static Result<std::unique_ptr<ChunkLocator>> open(const std::string& root);
  ~ChunkLocator();
  // Where each of `hashes` lies locally, for those recorded: one read transaction for all of
  // them (a lookup each on its own took and dropped SQLite's shared lock, two fcntl calls).
  Result<std::unordered_map<Digest, ChunkLocation>> find_all(const std::vector<Digest>& hashes);
  // True when no local file's chunks are recorded (a fresh clone): lookups would find nothing.
  bool empty();

 private:
  explicit ChunkLocator(std::unique_ptr<sqlite::Database> db);
  std::mutex mu_;
  std::unique_ptr<sqlite::Database> db_;
};

}  // namespace cairn::client
