#include "cli/client/state/local_state.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "lib/sqlite/sqlite.h"

namespace cairn::client {
namespace {

namespace fs = std::filesystem;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS base (
  path TEXT PRIMARY KEY,
  kind INTEGER NOT NULL,
  size INTEGER NOT NULL,
  mtime_ns INTEGER NOT NULL,
  inode INTEGER NOT NULL,
  mode INTEGER NOT NULL,
  manifest TEXT NOT NULL DEFAULT '',
  xxh3 INTEGER NOT NULL DEFAULT 0,
  target TEXT NOT NULL DEFAULT '',
  version INTEGER NOT NULL DEFAULT 0,
  node_id INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS local_chunks (
  hash BLOB PRIMARY KEY,
  path TEXT NOT NULL,
  offset INTEGER NOT NULL,
  length INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS local_chunks_path ON local_chunks(path);
)sql";

std::string db_path(const std::string& root) { return root + "/" + kStateDir + "/state.db"; }

}  // namespace

LocalState::LocalState(std::string root, std::unique_ptr<sqlite::Database> db)
    : root_(std::move(root)), db_(std::move(db)) {}

LocalState::~LocalState() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // Closing releases the flock.
}

Result<void> LocalState::lock_for_writing() {
  if (lock_fd_ >= 0) return {};
  const std::string path = state_dir() + "/lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return make_error(ErrorCode::kIo, "open " + path + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return make_error(ErrorCode::kUnavailable,
                      "another cairn command is using " + root_ + "; try again when it ends");
  }
  lock_fd_ = fd;
  // Only a writer holding the lock creates files in tmp/, so whatever is there now was left by
  // an interrupted command.
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(state_dir() + "/tmp", ec)) {
    if (entry.is_directory(ec)) {
      for (const auto& inner : fs::directory_iterator(entry.path(), ec)) fs::remove(inner, ec);
    } else {
      fs::remove(entry.path(), ec);
    }
  }
  return {};
}

Result<std::unique_ptr<LocalState>> LocalState::create(const std::string& root,
                                                       const std::string& server,
                                                       const std::string& remote_root) {
  std::error_code ec;
  fs::create_directories(root + "/" + kStateDir + "/tmp", ec);
  if (ec) return make_error(ErrorCode::kIo, "create " + root + "/.cairn: " + ec.message());
  if (fs::exists(db_path(root), ec)) {
    return make_error(ErrorCode::kAlreadyExists, root + " is already a cairn working copy");
  }
  // The state is a cache of what was synced, rebuilt by a pull: synchronous=NORMAL is enough.
  CAIRN_ASSIGN_OR_RETURN(auto db, sqlite::Database::open(db_path(root), true, false));
  CAIRN_RETURN_IF_ERROR(db->exec(kSchema));
  std::unique_ptr<LocalState> state(
      new LocalState(fs::absolute(root).lexically_normal().string(), std::move(db)));
  CAIRN_RETURN_IF_ERROR(state->set_setting("server", server));
  CAIRN_RETURN_IF_ERROR(state->set_setting("remote_root", remote_root));
  return state;
}

Result<std::unique_ptr<LocalState>> LocalState::open(const std::string& root) {
  CAIRN_ASSIGN_OR_RETURN(auto db, sqlite::Database::open(db_path(root), false, false));
  CAIRN_RETURN_IF_ERROR(db->exec(kSchema));
  std::error_code ec;
  fs::create_directories(root + "/" + kStateDir + "/tmp", ec);
  return std::unique_ptr<LocalState>(new LocalState(root, std::move(db)));
}

Result<std::string> LocalState::find_root(const std::string& dir) {
  std::error_code ec;
  fs::path p = fs::absolute(dir, ec).lexically_normal();
  while (true) {
    if (fs::exists(p / kStateDir / "state.db", ec)) {
      std::string s = p.string();
      if (s.size() > 1 && s.back() == '/') s.pop_back();
      return s;
    }
    if (p == p.root_path() || p.empty()) break;
    p = p.parent_path();
  }
  return make_error(ErrorCode::kNotFound,
                    "not inside a cairn working copy (run `cairn init DIR --remote URL` or "
                    "`cairn clone URL DIR`)");
}

Result<std::string> LocalState::setting(const std::string& key, const std::string& fallback) {
  sqlite::ScopedReset reset(*db_);
  CAIRN_ASSIGN_OR_RETURN(auto* q, db_->query("SELECT value FROM settings WHERE key=?1", key));
  CAIRN_ASSIGN_OR_RETURN(const bool row, q->step());
  std::string value = row ? q->get_text(0) : fallback;
  q->reset();
  return value;
}

Result<std::vector<std::string>> LocalState::detached() {
  CAIRN_ASSIGN_OR_RETURN(const std::string text, setting("detached"));
  std::vector<std::string> out;
  size_t at = 0;
  while (at < text.size()) {
    const size_t end = std::min(text.find('\n', at), text.size());
    if (end > at) out.push_back(text.substr(at, end - at));
    at = end + 1;
  }
  return out;
}

Result<void> LocalState::set_detached(const std::vector<std::string>& paths) {
  std::vector<std::string> sorted = paths;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  std::string text;
  for (const auto& p : sorted) text += p + "\n";
  return set_setting("detached", text);
}

Result<void> LocalState::set_setting(const std::string& key, const std::string& value) {
  sqlite::ScopedReset reset(*db_);
  CAIRN_ASSIGN_OR_RETURN(auto* q, db_->query("INSERT OR REPLACE INTO settings(key, value) VALUES "
                                             "(?1, ?2)",
                                             key, value));
  return q->run();
}

Result<std::map<std::string, BaseRecord>> LocalState::load_base() {
  sqlite::ScopedReset reset(*db_);
  std::map<std::string, BaseRecord> out;
  CAIRN_ASSIGN_OR_RETURN(auto* q, db_->query("SELECT path, kind, size, mtime_ns, inode, mode, "
                                             "manifest, xxh3, target, version, node_id FROM "
                                             "base"));
  while (true) {
    CAIRN_ASSIGN_OR_RETURN(const bool row, q->step());
    if (!row) break;
    BaseRecord b;
    b.path = q->get_text(0);
    b.kind = static_cast<NodeKind>(q->get_int(1));
    b.size = static_cast<uint64_t>(q->get_int(2));
    b.mtime_ns = q->get_int(3);
    b.inode = static_cast<uint64_t>(q->get_int(4));
    b.mode = static_cast<uint32_t>(q->get_int(5));
    b.manifest = Digest::from_hex(q->get_text_view(6));
    b.xxh3 = static_cast<uint64_t>(q->get_int(7));
    b.target = q->get_text(8);
    b.version = q->get_int(9);
    b.node_id = q->get_int(10);
    // Rows come mostly in path order (the order the first push recorded them): a hint at the
    // end makes each such insert constant time, not a descent comparing long shared prefixes.
    out.emplace_hint(out.end(), b.path, std::move(b));
  }
  return out;
}

Result<void> LocalState::update(const std::vector<BaseRecord>& upserts,
                                const std::vector<std::string>& removals,
                                const std::vector<std::pair<std::string, Manifest>>& chunk_maps) {
  sqlite::ScopedReset reset(*db_);
  return sqlite::in_transaction(*db_, [&]() -> Result<void> {
    for (const auto& path : removals) {
      CAIRN_ASSIGN_OR_RETURN(auto* q, db_->query("DELETE FROM base WHERE path=?1", path));
      CAIRN_RETURN_IF_ERROR(q->run());
      CAIRN_ASSIGN_OR_RETURN(auto* c, db_->query("DELETE FROM local_chunks WHERE path=?1", path));
      CAIRN_RETURN_IF_ERROR(c->run());
    }
    for (const auto& b : upserts) {
      CAIRN_ASSIGN_OR_RETURN(
          auto* q,
          db_->query("INSERT INTO base(path, kind, size, mtime_ns, inode, mode, manifest, xxh3, "
                     "target, version, node_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
                     "?11) ON CONFLICT(path) DO UPDATE SET kind=excluded.kind, "
                     "size=excluded.size, mtime_ns=excluded.mtime_ns, inode=excluded.inode, "
                     "mode=excluded.mode, manifest=excluded.manifest, xxh3=excluded.xxh3, "
                     "target=excluded.target, version=excluded.version, "
                     "node_id=excluded.node_id",
                     b.path, static_cast<int64_t>(b.kind), b.size, b.mtime_ns, b.inode,
                     static_cast<int64_t>(b.mode), b.manifest ? b.manifest->hex() : std::string(),
                     b.xxh3, b.target, b.version, b.node_id));
      CAIRN_RETURN_IF_ERROR(q->run());
    }
    for (const auto& [path, manifest] : chunk_maps) {
      CAIRN_ASSIGN_OR_RETURN(auto* c, db_->query("DELETE FROM local_chunks WHERE path=?1", path));
      CAIRN_RETURN_IF_ERROR(c->run());
      uint64_t offset = 0;
      for (const auto& chunk : manifest.chunks()) {
        CAIRN_ASSIGN_OR_RETURN(auto* q, db_->query("INSERT OR REPLACE INTO local_chunks(hash, "
                                                   "path, offset, length) VALUES (?1, ?2, ?3, "
                                                   "?4)",
                                                   chunk.hash.bytes(), path, offset,
                                                   static_cast<int64_t>(chunk.length)));
        CAIRN_RETURN_IF_ERROR(q->run());
        offset += chunk.length;
      }
    }
    return {};
  });
}

void BaseChanges::put(BaseRecord b) {
  std::string path = b.path;
  last_[std::move(path)] = std::move(b);
}

void BaseChanges::drop(const std::string& path) { last_[path] = std::nullopt; }

std::vector<BaseRecord> BaseChanges::upserts() const {
  std::vector<BaseRecord> out;
  for (const auto& [path, b] : last_) {
    if (b) out.push_back(*b);
  }
  return out;
}

std::vector<std::string> BaseChanges::removals() const {
  std::vector<std::string> out;
  for (const auto& [path, b] : last_) {
    if (!b) out.push_back(path);
  }
  return out;
}

std::vector<std::string> subtree_paths(const std::map<std::string, BaseRecord>& base,
                                       const std::string& path) {
  std::vector<std::string> out;
  if (base.count(path) != 0) out.push_back(path);
  const std::string prefix = path + "/";
  for (auto it = base.lower_bound(prefix);
       it != base.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    out.push_back(it->first);
  }
  return out;
}

ChunkLocator::ChunkLocator(std::unique_ptr<sqlite::Database> db) : db_(std::move(db)) {}
ChunkLocator::~ChunkLocator() = default;

Result<std::unique_ptr<ChunkLocator>> ChunkLocator::open(const std::string& root) {
  CAIRN_ASSIGN_OR_RETURN(auto db, sqlite::Database::open(db_path(root), false, false));
  return std::unique_ptr<ChunkLocator>(new ChunkLocator(std::move(db)));
}

bool ChunkLocator::empty() {
  std::lock_guard lock(mu_);
  sqlite::ScopedReset reset(*db_);
  auto q = db_->query("SELECT 1 FROM local_chunks LIMIT 1");
  if (!q) return false;
  auto row = (*q)->step();
  const bool any = row && *row;
  (*q)->reset();
  return !any;
}

Result<std::unordered_map<Digest, ChunkLocation>> ChunkLocator::find_all(
    const std::vector<Digest>& hashes) {
  std::unordered_map<Digest, ChunkLocation> found;
  if (hashes.empty()) return found;
  std::lock_guard lock(mu_);
  CAIRN_RETURN_IF_ERROR(sqlite::in_transaction(*db_, "BEGIN", [&]() -> Result<void> {
    for (const auto& hash : hashes) {
      sqlite::ScopedReset reset(*db_);
      CAIRN_ASSIGN_OR_RETURN(
          auto q,
          db_->query("SELECT path, offset, length FROM local_chunks WHERE hash=?1", hash.bytes()));
      CAIRN_ASSIGN_OR_RETURN(bool row, q->step());
      if (!row) continue;
      found.emplace(hash, ChunkLocation{q->get_text(0), static_cast<uint64_t>(q->get_int(1)),
                                        static_cast<uint32_t>(q->get_int(2))});
    }
    return {};
  }));
  return found;
}

}  // namespace cairn::client
