#include "lib/sqlite/sqlite.h"

#include <sqlite3.h>

#include <algorithm>
#include <cerrno>

namespace cairn::sqlite {
namespace {

Error sqlite_error(sqlite3* db, int rc, std::string_view what) {
  const int primary =
      rc & 0xff;  // Extended codes (SQLITE_IOERR_WRITE, ...) keep it in the low byte.
  // A write that found the disk full may come back as an I/O error naming ENOSPC (the WAL's).
  const bool full = primary == SQLITE_FULL || (primary == SQLITE_IOERR && db != nullptr &&
                                               sqlite3_system_errno(db) == ENOSPC);
  const ErrorCode code =
      full                                                      ? ErrorCode::kStorageFull
      : (primary == SQLITE_BUSY || primary == SQLITE_LOCKED)    ? ErrorCode::kUnavailable
      : primary == SQLITE_IOERR                                 ? ErrorCode::kIo
      : (primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB) ? ErrorCode::kCorrupt
                                                                : ErrorCode::kInternal;
  std::string message(what);
  message += ": ";
  message += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return Error(code, std::move(message));
}

}  // namespace

Statement::~Statement() { sqlite3_finalize(stmt_); }

void Statement::bind(int index, int64_t value) { sqlite3_bind_int64(stmt_, index, value); }

void Statement::bind(int index, std::string_view value) {
  sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
}

void Statement::bind(int index, ByteView value) {
  // A zero-length blob must stay a blob, not NULL: SQLite binds NULL for a null pointer.
  static const char kEmpty = 0;
  const void* data = value.empty() ? &kEmpty : static_cast<const void*>(value.data());
  sqlite3_bind_blob(stmt_, index, data, static_cast<int>(value.size()), SQLITE_TRANSIENT);
}

void Statement::bind(int index, std::nullptr_t) { sqlite3_bind_null(stmt_, index); }

Result<bool> Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  sqlite3* db = sqlite3_db_handle(stmt_);
  Error err = sqlite_error(db, rc, "sqlite step");
  sqlite3_reset(stmt_);
  if (sqlite3_extended_errcode(db) == SQLITE_CONSTRAINT_UNIQUE ||
      sqlite3_extended_errcode(db) == SQLITE_CONSTRAINT_PRIMARYKEY) {
    return Error(ErrorCode::kAlreadyExists, err.message());
  }
  return err;
}

Result<void> Statement::run() {
  while (true) {
    CAIRN_ASSIGN_OR_RETURN(const bool more, step());
    if (!more) break;
  }
  sqlite3_reset(stmt_);
  return {};
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

int Statement::column_count() const { return sqlite3_column_count(stmt_); }

Statement::ColumnType Statement::column_type(int col) const {
  switch (sqlite3_column_type(stmt_, col)) {
    case SQLITE_INTEGER:
      return ColumnType::kInteger;
    case SQLITE_FLOAT:
      return ColumnType::kFloat;
    case SQLITE_TEXT:
      return ColumnType::kText;
    case SQLITE_BLOB:
      return ColumnType::kBlob;
    default:
      return ColumnType::kNull;
  }
}

bool Statement::is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

int64_t Statement::get_int(int col) const { return sqlite3_column_int64(stmt_, col); }

std::string Statement::get_text(int col) const {
  const auto* text = sqlite3_column_text(stmt_, col);
  if (text == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

std::string_view Statement::get_text_view(int col) const {
  const auto* text = sqlite3_column_text(stmt_, col);
  if (text == nullptr) return {};
  return {reinterpret_cast<const char*>(text),
          static_cast<size_t>(sqlite3_column_bytes(stmt_, col))};
}

Bytes Statement::get_blob(int col) const {
  const auto* data = static_cast<const std::byte*>(sqlite3_column_blob(stmt_, col));
  const auto size = static_cast<size_t>(sqlite3_column_bytes(stmt_, col));
  if (data == nullptr) return {};
  return Bytes(data, data + size);
}

std::optional<int64_t> Statement::get_optional_int(int col) const {
  if (is_null(col)) return std::nullopt;
  return get_int(col);
}

Result<std::unique_ptr<Database>> Database::open(const std::string& path, bool create,
                                                 bool synchronous_full) {
  sqlite3* raw = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  if (rc != SQLITE_OK) {
    Error err = sqlite_error(raw, rc, "open " + path);
    sqlite3_close(raw);
    if (rc == SQLITE_CANTOPEN) return Error(ErrorCode::kNotFound, err.message());
    return err;
  }
  std::unique_ptr<Database> db(new Database(raw, path));
  sqlite3_busy_timeout(raw, 10000);
  sqlite3_extended_result_codes(raw, 1);
  // WAL lets readers proceed during a write. synchronous=FULL syncs the WAL at every commit, so a
  // commit that returned survives power loss; NORMAL only survives a process crash.
  CAIRN_RETURN_IF_ERROR(db->exec("PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON;"));
  // Statement journals (which let one statement or savepoint of a transaction roll back alone)
  // stay in memory. In temporary files they were written through the kernel: a 50,000-file push
  // made the daemon write 7.0 GB for 1.0 GB of data; with this, 1.7 GB.
  CAIRN_RETURN_IF_ERROR(db->exec("PRAGMA temp_store=MEMORY"));
  CAIRN_RETURN_IF_ERROR(
      db->exec(synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"));
  return db;
}

Result<uint64_t> Database::backup_to(const std::string& dest) {
  sqlite3* out = nullptr;
  int rc =
      sqlite3_open_v2(dest.c_str(), &out,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_EXCLUSIVE, nullptr);
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> closer(out, &sqlite3_close);
  if (rc != SQLITE_OK) return sqlite_error(out, rc, "create " + dest);
  sqlite3_busy_timeout(out, 10000);
  sqlite3_backup* backup = sqlite3_backup_init(out, "main", db_, "main");
  if (backup == nullptr) return sqlite_error(out, sqlite3_errcode(out), "back up to " + dest);
  // All pages in one step: one read transaction, so one snapshot, however writers go on.
  while ((rc = sqlite3_backup_step(backup, -1)) == SQLITE_BUSY || rc == SQLITE_LOCKED) {
    sqlite3_sleep(50);
  }
  const int pages = sqlite3_backup_pagecount(backup);
  const int finished = sqlite3_backup_finish(backup);
  if (rc != SQLITE_DONE) return sqlite_error(out, rc, "back up to " + dest);
  if (finished != SQLITE_OK) return sqlite_error(out, finished, "back up to " + dest);
  // The copy stands alone: a rollback journal (nothing beside it), synced to disk.
  char* message = nullptr;
  rc = sqlite3_exec(out, "PRAGMA journal_mode=DELETE", nullptr, nullptr, &message);
  sqlite3_free(message);
  if (rc != SQLITE_OK) return sqlite_error(out, rc, "finish the copy at " + dest);
  int page_size = 0;
  {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(out, "PRAGMA page_size", -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      page_size = sqlite3_column_int(stmt, 0);
    }
    sqlite3_finalize(stmt);
  }
  return static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_size);
}

Database::~Database() {
  cache_.clear();  // Statements must be finalised before the connection closes.
  sqlite3_close(db_);
}

Result<void> Database::exec(std::string_view sql) {
  char* message = nullptr;
  const std::string text(sql);
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message);
  if (rc != SQLITE_OK) {
    std::string what = message != nullptr ? message : sqlite3_errstr(rc);
    sqlite3_free(message);
    return sqlite_error(db_, rc, "sqlite exec (" + what + ")");
  }
  return {};
}

Result<Statement*> Database::prepare(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end()) {
    it->second.used = ++clock_;
    it->second.stmt->reset();
    active_.push_back(it->second.stmt.get());
    return it->second.stmt.get();
  }
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) return sqlite_error(db_, rc, "prepare");
  while (cache_.size() >= kMaxCached && evict_one()) {
  }
  auto owned = std::make_unique<Statement>(stmt);
  Statement* raw = owned.get();
  cache_.emplace(sql, Cached{std::move(owned), ++clock_});
  active_.push_back(raw);
  return raw;
}

bool Database::evict_one() {
  // A statement handed out since the last reset_all() may still be stepped by its caller.
  auto oldest = cache_.end();
  for (auto it = cache_.begin(); it != cache_.end(); ++it) {
    if (std::find(active_.begin(), active_.end(), it->second.stmt.get()) != active_.end()) {
      continue;
    }
    if (oldest == cache_.end() || it->second.used < oldest->second.used) oldest = it;
  }
  if (oldest == cache_.end()) return false;
  cache_.erase(oldest);
  return true;
}

void Database::reset_all() {
  for (Statement* s : active_) s->reset();
  active_.clear();
}

void Database::on_commit(std::function<void(int wal_pages)> committed) {
  committed_ = std::move(committed);
  sqlite3_wal_hook(
      db_,
      [](void* self, sqlite3*, const char*, int pages) {
        auto& hook = static_cast<Database*>(self)->committed_;
        if (hook) hook(pages);
        return SQLITE_OK;
      },
      this);
}

Result<void> Database::checkpoint() {
  const int rc =
      sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  // Busy: another checkpoint is running, which does the same work.
  if (rc != SQLITE_OK && rc != SQLITE_BUSY) return sqlite_error(db_, rc, "checkpoint");
  return {};
}

int64_t Database::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }

int Database::changes() const { return sqlite3_changes(db_); }

}  // namespace cairn::sqlite
