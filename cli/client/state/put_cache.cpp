#include "cli/client/state/put_cache.h"

#include <filesystem>

#include "cli/client/net/config.h"
#include "lib/sqlite/sqlite.h"

namespace cairn::client {
namespace {

// The chunking a record was cut with, as one comparable value.
std::string chunking_key(const ChunkerParams& p) {
  return std::to_string(p.min_size) + "/" + std::to_string(p.avg_size) + "/" +
         std::to_string(p.max_size);
}

}  // namespace

PutCache::PutCache(std::unique_ptr<sqlite::Database> db) : db_(std::move(db)) {}
PutCache::~PutCache() = default;

std::string PutCache::default_path() {
  const std::string dir = cache_dir();
  return dir.empty() ? "" : dir + "/put.db";
}

std::unique_ptr<PutCache> PutCache::open(const std::string& path) {
  if (path.empty()) return nullptr;
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  // Not synchronous: a record lost in a crash is a file hashed again.
  auto db = sqlite::Database::open(path, true, false);
  if (!db) return nullptr;
  if (!(*db)->exec("CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, size INTEGER NOT "
                   "NULL, mtime_ns INTEGER NOT NULL, inode INTEGER NOT NULL, mode INTEGER NOT "
                   "NULL, chunking TEXT NOT NULL, manifest BLOB NOT NULL)")) {
    return nullptr;
  }
  return std::unique_ptr<PutCache>(new PutCache(std::move(*db)));
}

PutCache::Reading::Reading(PutCache* cache) : cache_(cache) {
  std::lock_guard lock(cache_->mu_);
  if (!cache_->db_->exec("BEGIN")) cache_ = nullptr;
}

PutCache::Reading::~Reading() {
  if (cache_ == nullptr) return;
  std::lock_guard lock(cache_->mu_);
  cache_->db_->reset_all();
  (void)cache_->db_->exec("COMMIT");
}

std::optional<Manifest> PutCache::find(const std::string& abs, const FileStamp& stamp,
                                       const ChunkerParams& params) {
  std::lock_guard lock(mu_);
  sqlite::ScopedReset reset(*db_);
  auto stmt = db_->query(
      "SELECT manifest FROM files WHERE path=?1 AND size=?2 AND mtime_ns=?3 AND inode=?4 AND "
      "mode=?5 AND chunking=?6",
      abs, stamp.size, stamp.mtime_ns, stamp.inode, static_cast<int64_t>(stamp.mode),
      chunking_key(params));
  if (!stmt) return std::nullopt;
  auto row = (*stmt)->step();
  if (!row || !*row) return std::nullopt;
  auto manifest = Manifest::decode((*stmt)->get_blob(0));
  if (!manifest || manifest->total_size() != stamp.size) return std::nullopt;
  return std::move(*manifest);
}

void PutCache::remember(const std::string& abs, const FileStamp& stamp, const ChunkerParams& params,
                        const Manifest& manifest) {
  Pending p{abs, stamp, chunking_key(params), manifest.encode()};
  std::lock_guard lock(mu_);
  pending_.push_back(std::move(p));
}

void PutCache::flush() {
  std::lock_guard lock(mu_);
  if (pending_.empty()) return;
  if (!db_->exec("BEGIN")) return;
  for (const auto& p : pending_) {
    sqlite::ScopedReset reset(*db_);
    auto stmt = db_->query(
        "INSERT INTO files(path, size, mtime_ns, inode, mode, chunking, manifest) VALUES (?1, "
        "?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(path) DO UPDATE SET size=excluded.size, "
        "mtime_ns=excluded.mtime_ns, inode=excluded.inode, mode=excluded.mode, "
        "chunking=excluded.chunking, manifest=excluded.manifest",
        p.path, p.stamp.size, p.stamp.mtime_ns, p.stamp.inode, static_cast<int64_t>(p.stamp.mode),
        p.chunking, ByteView(p.manifest));
    if (!stmt || !(*stmt)->run()) {
      (void)db_->exec("ROLLBACK");
      pending_.clear();
      return;
    }
  }
  (void)db_->exec("COMMIT");
  pending_.clear();
}

}  // namespace cairn::client
