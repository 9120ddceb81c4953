#include "daemon/store/sql/sqlite_database.h"

#include <mutex>

#include "lib/sqlite/sqlite.h"

namespace cairn::store::sql {
namespace {

class SqliteSession final : public Session {
 public:
  explicit SqliteSession(sqlite::Database& db) : db_(db) {}

  Result<Rows> run(const std::string& sql, const std::vector<Value>& params) override {
    sqlite::ScopedReset reset(db_);
    CAIRN_ASSIGN_OR_RETURN(sqlite::Statement * stmt, db_.prepare(sql));
    int index = 0;
    for (const Value& p : params) {
      ++index;
      std::visit([&](const auto& v) { bind(*stmt, index, v); }, p);
    }
    Rows out;
    while (true) {
      CAIRN_ASSIGN_OR_RETURN(const bool row, stmt->step());
      if (!row) break;
      const int n = stmt->column_count();
      std::vector<Value> cells;
      cells.reserve(static_cast<size_t>(n));
      for (int c = 0; c < n; ++c) cells.push_back(cell(*stmt, c));
      out.rows.push_back(std::move(cells));
    }
    out.affected = db_.changes();
    return out;
  }

  Result<void> exec(const std::string& sql) override { return db_.exec(sql); }

 private:
  static void bind(sqlite::Statement& s, int i, std::nullptr_t) { s.bind(i, nullptr); }
  static void bind(sqlite::Statement& s, int i, int64_t v) { s.bind(i, v); }
  static void bind(sqlite::Statement& s, int i, const std::string& v) { s.bind(i, v); }
  static void bind(sqlite::Statement& s, int i, const Bytes& v) { s.bind(i, ByteView(v)); }

  static Value cell(const sqlite::Statement& s, int c) {
    using T = sqlite::Statement::ColumnType;
    switch (s.column_type(c)) {
      case T::kNull:
        return nullptr;
      case T::kInteger:
      case T::kFloat:
        return s.get_int(c);
      case T::kText:
        return s.get_text(c);
      case T::kBlob:
        return s.get_blob(c);
    }
    return nullptr;
  }

  sqlite::Database& db_;
};

class SqliteDatabase final : public Database {
 public:
  explicit SqliteDatabase(std::unique_ptr<sqlite::Database> db) : db_(std::move(db)) {}

  Dialect dialect() const override { return Dialect::kSqlite; }

  Result<void> transact(TxMode mode, const std::function<Result<void>(Session&)>& body) override {
    std::lock_guard lock(mu_);
    // A deferred BEGIN gives a read snapshot; IMMEDIATE takes the write lock before reading, so
    // that what a write transaction checks cannot change before it acts.
    CAIRN_RETURN_IF_ERROR(db_->exec(mode == TxMode::kWrite ? "BEGIN IMMEDIATE" : "BEGIN"));
    SqliteSession session(*db_);
    auto result = body(session);
    db_->reset_all();
    if (!result) {
      (void)db_->exec("ROLLBACK");
      return result;
    }
    if (auto committed = db_->exec("COMMIT"); !committed) {
      (void)db_->exec("ROLLBACK");
      return committed;
    }
    return {};
  }

 private:
  std::mutex mu_;
  std::unique_ptr<sqlite::Database> db_;
};

}  // namespace

Result<std::unique_ptr<Database>> open_sqlite(const std::string& path, bool create) {
  CAIRN_ASSIGN_OR_RETURN(auto db, sqlite::Database::open(path, create, /*synchronous_full=*/true));
  return std::unique_ptr<Database>(new SqliteDatabase(std::move(db)));
}

}  // namespace cairn::store::sql
