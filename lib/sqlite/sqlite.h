#pragma once

// A thin RAII layer over the SQLite C API, shared by the daemon's metadata store and the client's
// working-copy state. It turns SQLite's status codes into Results and caches prepared statements.
// A Database belongs to one thread at a time; callers serialise access.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/error.h"

struct sqlite3;
struct sqlite3_stmt;

namespace cairn::sqlite {

// A prepared statement. Reset and re-bound by Database::query on each use.
class Statement {
 public:
  explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  void bind(int index, int64_t value);
  void bind(int index, int value) { bind(index, static_cast<int64_t>(value)); }
  void bind(int index, uint64_t value) { bind(index, static_cast<int64_t>(value)); }
  void bind(int index, bool value) { bind(index, static_cast<int64_t>(value ? 1 : 0)); }
  void bind(int index, std::string_view value);
  void bind(int index, const std::string& value) { bind(index, std::string_view(value)); }
  void bind(int index, const char* value) { bind(index, std::string_view(value)); }
  void bind(int index, ByteView value);
  void bind(int index, std::nullptr_t);
  template <typename T>
  void bind(int index, const std::optional<T>& value) {
    if (value) {
      bind(index, *value);
    } else {
      bind(index, nullptr);
    }
  }

  // Advances to the next row: true if there is one, false when done.
  Result<bool> step();
  // Runs to completion, ignoring rows.
  Result<void> run();
  void reset();

  enum class ColumnType { kNull, kInteger, kFloat, kText, kBlob };
  int column_count() const;
  ColumnType column_type(int col) const;
  bool is_null(int col) const;
  int64_t get_int(int col) const;
  std::string get_text(int col) const;
  // The text without a copy: valid until the statement steps, resets or is finalized.
  std::string_view get_text_view(int col) const;
  Bytes get_blob(int col) const;
  std::optional<int64_t> get_optional_int(int col) const;

 private:
  sqlite3_stmt* stmt_;
};

class Database {
 public:
  // Opens (creating if asked) a database file in WAL mode with foreign keys on.
  // `synchronous_full` makes each commit durable (fsync of the WAL) before it returns.
  static Result<std::unique_ptr<Database>> open(const std::string& path, bool create,
                                                bool synchronous_full);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Runs one or more statements with no parameters.
  Result<void> exec(std::string_view sql);

  // Prepares (cached by SQL text), resets and binds `args` to ?1, ?2, ...
  template <typename... Args>
  Result<Statement*> query(const std::string& sql, const Args&... args) {
    CAIRN_ASSIGN_OR_RETURN(Statement * stmt, prepare(sql));
    int index = 0;
    (stmt->bind(++index, args), ...);
    return stmt;
  }

  // Prepares (cached by SQL text) and resets a statement for the caller to bind. Tracked like
  // query()'s statements.
  Result<Statement*> prepare(const std::string& sql);

  // Resets every statement handed out by query() since the last call. A statement left on a row
  // keeps its read snapshot open, which in WAL mode hides every later commit from this
  // connection: each operation must end with this (ScopedReset does it).
  void reset_all();

  // From now on this connection's commits never checkpoint the WAL themselves (SQLite's
  // automatic checkpoint runs in the committing thread, after the commit, before it returns):
  // after each commit `committed` is called, in the committing thread, with the WAL's size in
  // pages. An empty function takes the hook away (and leaves automatic checkpoints off).
  void on_commit(std::function<void(int wal_pages)> committed);

  // Copies into the database what the WAL holds that no reader still needs, waiting for no
  // reader or writer (a PASSIVE checkpoint).
  Result<void> checkpoint();

  // Copies the whole database, as of one moment, into a new file at `dest` (which must not
  // exist) with SQLite's online backup API: in WAL mode it reads one snapshot while writers go
  // on. The copy is a plain database (rollback journal), made durable before this returns.
  // Returns its size in bytes.
  Result<uint64_t> backup_to(const std::string& dest);

  int64_t last_insert_rowid() const;
  int changes() const;
  size_t cached_statements() const { return cache_.size(); }
  const std::string& path() const { return path_; }

 private:
  Database(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}

  sqlite3* db_;
  std::string path_;
  std::function<void(int)> committed_;
  // Prepared statements by SQL text, the least recently used dropped beyond kMaxCached: texts
  // built per batch (IN lists, multi-row inserts of varying length) would otherwise pile up for
  // the life of the connection, each holding its compiled program.
  struct Cached {
    std::unique_ptr<Statement> stmt;
    uint64_t used = 0;
  };
  static constexpr size_t kMaxCached = 128;
  bool evict_one();  // False if every cached statement is in use.
  std::map<std::string, Cached, std::less<>> cache_;
  uint64_t clock_ = 0;
  std::vector<Statement*> active_;
};

// Calls reset_all() when the scope ends.
class ScopedReset {
 public:
  explicit ScopedReset(Database& db) : db_(db) {}
  ~ScopedReset() { db_.reset_all(); }
  ScopedReset(const ScopedReset&) = delete;
  ScopedReset& operator=(const ScopedReset&) = delete;

 private:
  Database& db_;
};

// Runs `body` inside `begin` ... COMMIT, rolling back if it returns an error or the commit
// fails. The one transaction wrapper over SQLite: the client's state and the daemon's store.
template <typename F>
auto in_transaction(Database& db, const char* begin, F&& body) -> decltype(body()) {
  CAIRN_RETURN_IF_ERROR(db.exec(begin));
  auto result = body();
  db.reset_all();
  if (!result) {
    (void)db.exec("ROLLBACK");
    return result;
  }
  if (auto committed = db.exec("COMMIT"); !committed) {
    (void)db.exec("ROLLBACK");
    return std::move(committed).error();
  }
  return result;
}

// A write transaction: BEGIN IMMEDIATE takes the write lock before the first read.
template <typename F>
auto in_transaction(Database& db, F&& body) -> decltype(body()) {
  return in_transaction(db, "BEGIN IMMEDIATE", std::forward<F>(body));
}

}  // namespace cairn::sqlite
