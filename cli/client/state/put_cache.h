#pragma once

// What `cairn put` remembers of the files it has cut and hashed, outside any working copy, so
// that putting an unchanged tree again costs one stat per file: $XDG_CACHE_HOME/cairn/put.db
// (~/.cache/cairn/put.db). A file is known by its absolute path; a record holds only while the
// file's size, modification time, inode and mode are those it was made with, and was cut with
// the same chunking. It is a cache: losing it (or failing to open it) costs time, never
// correctness, and put verifies nothing through it (a record is used only when the server
// already has exactly that manifest at the destination).

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/chunker.h"
#include "common/manifest.h"

namespace cairn::sqlite {
class Database;
}

namespace cairn::client {

// What a file looked like when it was hashed.
struct FileStamp {
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  uint64_t inode = 0;
  uint32_t mode = 0;
};

class PutCache {
 public:
  // The cache at `path` (made if missing), or null if it cannot be used.
  static std::unique_ptr<PutCache> open(const std::string& path);
  // put.db in cache_dir() (config.h); "" if there is none.
  static std::string default_path();
  ~PutCache();

  // Until the returned object goes, find() reads from one snapshot (one transaction, instead of
  // one per call).
  class Reading {
   public:
    explicit Reading(PutCache* cache);
    ~Reading();
    Reading(const Reading&) = delete;
    Reading& operator=(const Reading&) = delete;

   private:
    PutCache* cache_;
  };
  Reading reading() { return Reading(this); }

  // The manifest recorded for `abs`, if the file still has `stamp` and was cut with `params`.
  std::optional<Manifest> find(const std::string& abs, const FileStamp& stamp,
                               const ChunkerParams& params);
  // Remembers a file's manifest (written by flush()). Thread-safe.
  void remember(const std::string& abs, const FileStamp& stamp, const ChunkerParams& params,
                const Manifest& manifest);
  // Writes what was remembered, in one transaction. Failures are ignored: it is a cache.
  void flush();

 private:
  explicit PutCache(std::unique_ptr<sqlite::Database> db);

  struct Pending {
    std::string path;
    FileStamp stamp;
    std::string chunking;
    Bytes manifest;
  };

  std::unique_ptr<sqlite::Database> db_;
  std::mutex mu_;  // db_ and pending_.
  std::vector<Pending> pending_;
};

}  // namespace cairn::client
