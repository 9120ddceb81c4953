#include "daemon/store/sql/sqlite_database.h"

#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "lib/sqlite/sqlite.h"

namespace cairn::store::sql {
namespace {

// Statements are written with numbered parameters ("?12"): PostgreSQL needs them numbered, and
// a statement may name one twice. SQLite, compiling a numbered parameter, finds its name by
// walking the list of the statement's parameters: a statement with thousands (a multi-row
// insert of a batch of new files) spent 1.8% of cairnd's CPU in an initial push of 60,150 files
// in that walk alone. An anonymous "?" takes the next number with no walk. So a statement with
// many parameters, each named once and in order, is compiled with "?" in their place (the
// same numbers); any other is compiled as written.
constexpr size_t kManyParameters = 64;

std::optional<std::string> with_anonymous_parameters(const std::string& sql) {
  std::string out;
  out.reserve(sql.size());
  int next = 1;
  char quote = 0;  // Inside '...' or "...": a '?' there is text.
  for (size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    out += c;
    if (quote != 0) {
      if (c == quote) quote = 0;
      continue;
    }
    if (c == '\'' || c == '"') {
      quote = c;
      continue;
    }
    if (c != '?') continue;
    size_t end = i + 1;
    int number = 0;
    while (end < sql.size() && end - i <= 6 && sql[end] >= '0' && sql[end] <= '9') {
      number = number * 10 + (sql[end] - '0');
      ++end;
    }
    if (number != next) return std::nullopt;
    ++next;
    i = end - 1;
  }
  return out;
}

class SqliteSession final : public Session {
 public:
  explicit SqliteSession(sqlite::Database& db) : db_(db) {}

  Result<Rows> run(const std::string& sql, const std::vector<Value>& params) override {
    sqlite::ScopedReset reset(db_);
    std::optional<std::string> anonymous;
    if (params.size() >= kManyParameters) anonymous = with_anonymous_parameters(sql);
    CAIRN_ASSIGN_OR_RETURN(sqlite::Statement * stmt, db_.prepare(anonymous ? *anonymous : sql));
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

// Checkpoints the WAL on a thread of its own, through a connection of its own, whenever a
// commit has grown it past kCheckpointPages: SQLite's automatic checkpoint runs in the thread
// that committed, before its commit returns, so every few thousand pages one request waited for
// the copy and the database's fsync (8% of cairnd's CPU in pushes of 500 edited files, all of it
// in the commit's reply). A PASSIVE checkpoint waits for no reader and no writer: commits go on
// meanwhile, and what a reader still needs is copied by a later checkpoint. Under commits that
// never pause, the checkpoints could fall behind and the WAL grow without end: past
// kInlinePages the commit that finds it so checkpoints itself, as SQLite would have.
class Checkpointer {
 public:
  // After 16 MiB of WAL (SQLite's default is 4 MiB): a page that many commits touch (an
  // index's, the namespace row's) is then copied once per checkpoint rather than once per 4 MiB
  // of commits. A push of the 60,000-file bench tree made the daemon write 1,355 MB before,
  // 1,177 MB after (the packs are 1,165 MB of it).
  static constexpr int kCheckpointPages = 4096;
  static constexpr int kInlinePages = 4 * kCheckpointPages;

  explicit Checkpointer(std::unique_ptr<sqlite::Database> db)
      : db_(std::move(db)), thread_([this] { loop(); }) {}

  ~Checkpointer() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }

  // From the committing thread.
  void committed(int wal_pages) {
    if (wal_pages < kCheckpointPages) return;
    {
      std::lock_guard lock(mu_);
      due_ = true;
    }
    cv_.notify_one();
  }

 private:
  void loop() {
    std::unique_lock lock(mu_);
    while (true) {
      cv_.wait(lock, [&] { return due_ || stopping_; });
      if (stopping_) return;
      due_ = false;
      lock.unlock();
      // A failure leaves the WAL longer, never anything lost: the next commit asks again.
      (void)db_->checkpoint();
      lock.lock();
    }
  }

  std::unique_ptr<sqlite::Database> db_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool due_ = false;
  bool stopping_ = false;
  std::thread thread_;  // Last: it starts once the members above exist.
};

class SqliteDatabase final : public Database {
 public:
  SqliteDatabase(std::unique_ptr<sqlite::Database> writer, std::string path,
                 std::unique_ptr<sqlite::Database> checkpoints)
      : path_(std::move(path)),
        writer_(std::move(writer)),
        checkpointer_(std::make_unique<Checkpointer>(std::move(checkpoints))) {
    writer_->on_commit([this](int pages) {
      if (pages < Checkpointer::kInlinePages) return checkpointer_->committed(pages);
      (void)writer_->checkpoint();  // Under write_mu_: no commit lands meanwhile.
    });
  }

  ~SqliteDatabase() override {
    writer_->on_commit(nullptr);
    checkpointer_.reset();
  }

  Dialect dialect() const override { return Dialect::kSqlite; }

  Result<uint64_t> backup_to(const std::string& dest) override {
    // A connection of its own: the backup reads one snapshot while the writer goes on.
    CAIRN_ASSIGN_OR_RETURN(auto source, sqlite::Database::open(path_, /*create=*/false,
                                                               /*synchronous_full=*/true));
    return source->backup_to(dest);
  }

  Result<void> transact(TxMode mode, const std::function<Result<void>(Session&)>& body) override {
    if (mode == TxMode::kWrite) {
      std::set<std::string> announced;
      {
        std::lock_guard lock(write_mu_);
        // IMMEDIATE takes the write lock before reading, so that what a write transaction checks
        // cannot change before it acts.
        CAIRN_RETURN_IF_ERROR(run(*writer_, "BEGIN IMMEDIATE", body, &announced));
      }
      if (!announced.empty()) {
        std::lock_guard lock(listen_mu_);
        if (heard_) {
          for (const auto& payload : announced) heard_(payload);
        }
      }
      return {};
    }
    // A read runs on a connection of its own: in WAL mode it reads a snapshot while a write
    // (and its fsync) proceeds, instead of queueing behind it.
    CAIRN_ASSIGN_OR_RETURN(auto reader, acquire_reader());
    auto result = run(*reader, "BEGIN", body, nullptr);
    release_reader(std::move(reader));
    return result;
  }

  Result<void> listen(std::function<void(const std::string&)> heard,
                      std::function<void()> /*gap*/) override {
    // In one process nothing is ever missed: no gap.
    std::lock_guard lock(listen_mu_);
    heard_ = std::move(heard);
    return {};
  }

 private:
  static constexpr size_t kMaxReaders = 4;

  static Result<void> run(sqlite::Database& db, const char* begin,
                          const std::function<Result<void>(Session&)>& body,
                          std::set<std::string>* announced) {
    SqliteSession session(db);
    CAIRN_RETURN_IF_ERROR(sqlite::in_transaction(db, begin, [&] { return body(session); }));
    if (announced != nullptr) *announced = session.announced();
    return {};
  }

  Result<std::unique_ptr<sqlite::Database>> acquire_reader() {
    {
      std::unique_lock lock(read_mu_);
      read_cv_.wait(lock, [&] { return !idle_.empty() || open_readers_ < kMaxReaders; });
      if (!idle_.empty()) {
        auto db = std::move(idle_.back());
        idle_.pop_back();
        return db;
      }
      ++open_readers_;
    }
    auto db = sqlite::Database::open(path_, /*create=*/false, /*synchronous_full=*/true);
    if (!db) {
      {
        std::lock_guard lock(read_mu_);
        --open_readers_;
      }
      read_cv_.notify_one();
    }
    return db;
  }

  void release_reader(std::unique_ptr<sqlite::Database> db) {
    {
      std::lock_guard lock(read_mu_);
      idle_.push_back(std::move(db));
    }
    read_cv_.notify_one();
  }

  const std::string path_;
  std::mutex write_mu_;
  std::mutex listen_mu_;  // Held while heard_ runs: listen() returns only once it is done.
  std::function<void(const std::string&)> heard_;
  std::unique_ptr<sqlite::Database> writer_;
  std::unique_ptr<Checkpointer> checkpointer_;
  std::mutex read_mu_;
  std::condition_variable read_cv_;
  std::vector<std::unique_ptr<sqlite::Database>> idle_;
  size_t open_readers_ = 0;
};

}  // namespace

Result<std::unique_ptr<Database>> open_sqlite(const std::string& path, bool create) {
  CAIRN_ASSIGN_OR_RETURN(auto db, sqlite::Database::open(path, create, /*synchronous_full=*/true));
  // The one writer keeps 8 MiB of pages (SQLite's default is 2). Each commit still syncs the
  // WAL, so what was acknowledged stays durable; the Checkpointer copies the WAL back.
  CAIRN_RETURN_IF_ERROR(db->exec("PRAGMA cache_size=-8192"));
  CAIRN_ASSIGN_OR_RETURN(auto checkpoints,
                         sqlite::Database::open(path, /*create=*/false, /*synchronous_full=*/true));
  return std::unique_ptr<Database>(new SqliteDatabase(std::move(db), path, std::move(checkpoints)));
}

}  // namespace cairn::store::sql
