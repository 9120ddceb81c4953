#pragma once

// The small SQL surface the metadata store is written against, so that one implementation runs on
// SQLite and on PostgreSQL. Statements are written once, in the dialect both engines accept:
// `?1`-style numbered parameters (rewritten to `$1` for PostgreSQL), `INSERT ... ON CONFLICT DO
// NOTHING`, and `RETURNING` for generated ids. Only the DDL differs per engine.
//
// Results are read whole into memory: every query the store runs is bounded (a page, a folder's
// children, a batch), and owning the rows keeps no cursor, snapshot or connection pinned.

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/bytes.h"
#include "common/error.h"

namespace cairn::store::sql {

using Value = std::variant<std::nullptr_t, int64_t, std::string, Bytes>;

// One row of a result; columns by position, as the SELECT lists them.
class Row {
 public:
  explicit Row(const std::vector<Value>& cells) : cells_(&cells) {}

  bool is_null(size_t col) const;
  // 0 for NULL.
  int64_t get_int(size_t col) const;
  std::optional<int64_t> get_optional_int(size_t col) const;
  // "" for NULL.
  std::string get_text(size_t col) const;
  // Empty for NULL.
  Bytes get_blob(size_t col) const;

 private:
  const std::vector<Value>* cells_;
};

struct Rows {
  std::vector<std::vector<Value>> rows;
  int64_t affected = 0;  // Rows inserted, updated or deleted.

  bool empty() const { return rows.empty(); }
  size_t size() const { return rows.size(); }
  Row operator[](size_t i) const { return Row(rows[i]); }
};

inline Value to_value(std::nullptr_t) { return nullptr; }
inline Value to_value(int64_t v) { return v; }
inline Value to_value(int v) { return static_cast<int64_t>(v); }
inline Value to_value(uint32_t v) { return static_cast<int64_t>(v); }
inline Value to_value(uint64_t v) { return static_cast<int64_t>(v); }
inline Value to_value(bool v) { return static_cast<int64_t>(v ? 1 : 0); }
inline Value to_value(std::string_view v) { return std::string(v); }
inline Value to_value(const std::string& v) { return v; }
inline Value to_value(const char* v) { return std::string(v); }
inline Value to_value(ByteView v) { return Bytes(v.begin(), v.end()); }
inline Value to_value(const Bytes& v) { return v; }
template <typename T>
Value to_value(const std::optional<T>& v) {
  return v ? to_value(*v) : Value(nullptr);
}

// One connection inside one open transaction.
class Session {
 public:
  virtual ~Session() = default;

  // Runs one statement with parameters bound to ?1, ?2, ...
  virtual Result<Rows> run(const std::string& sql, const std::vector<Value>& params) = 0;
  // Runs statements without parameters (DDL, SAVEPOINT).
  virtual Result<void> exec(const std::string& sql) = 0;

  template <typename... Args>
  Result<Rows> query(const std::string& sql, const Args&... args) {
    return run(sql, std::vector<Value>{to_value(args)...});
  }

  // Announces `payload` to the database's listener (Database::listen) once this transaction
  // commits; nothing if it rolls back. The same payload twice in one transaction is announced
  // once.
  void announce(std::string payload) { announced_.insert(std::move(payload)); }
  const std::set<std::string>& announced() const { return announced_; }

 private:
  std::set<std::string> announced_;
};

enum class Dialect { kSqlite, kPostgres };

enum class TxMode {
  kRead,   // A consistent snapshot; no writes.
  kWrite,  // Serialisable read-write.
};

class Database {
 public:
  virtual ~Database() = default;
  virtual Dialect dialect() const = 0;

  // Runs `body` in one transaction and commits it if `body` succeeds; rolls back otherwise. When
  // the engine aborts the transaction to keep it serialisable (PostgreSQL SQLSTATE 40001, 40P01)
  // the whole body runs again, so it must not act outside the database.
  virtual Result<void> transact(TxMode mode, const std::function<Result<void>(Session&)>& body) = 0;

  // Calls `heard(payload)` for each payload announced by a committed transaction
  // (Session::announce): on PostgreSQL those of every process on the database, through
  // LISTEN/NOTIFY on a connection of its own; on SQLite those of this process, right after the
  // commit, on the committing thread. `gap()` is called when announcements may have been missed
  // (the listening connection was lost and is back). One listener at a time; empty functions
  // stop listening (and, once this returns, neither is called again).
  virtual Result<void> listen(std::function<void(const std::string&)> heard,
                              std::function<void()> gap) = 0;
  // A consistent copy of the whole database in a new file `dest`, taken while others write;
  // returns its size. Only an embedded database can: PostgreSQL has pg_dump.
  virtual Result<uint64_t> backup_to(const std::string& dest) {
    (void)dest;
    return make_error(
        ErrorCode::kInvalidArgument,
        "the metadata is in PostgreSQL: back it up with pg_dump (docs/cli.md, \"Backups\")");
  }
};

// transact() for a body that returns a value.
template <typename F>
auto transact(Database& db, TxMode mode, F&& body) -> decltype(body(std::declval<Session&>())) {
  using R = decltype(body(std::declval<Session&>()));
  std::optional<R> out;
  auto done = db.transact(mode, [&](Session& s) -> Result<void> {
    out.emplace(body(s));
    if (!*out) return out->error();
    return {};
  });
  if (!done) return std::move(done).error();
  return std::move(*out);
}

}  // namespace cairn::store::sql
