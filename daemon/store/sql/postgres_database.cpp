#include "daemon/store/sql/postgres_database.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>

#define PQXX_HAVE_OPTIONAL 1
#include <pqxx/pqxx>

namespace cairn::store::sql {
namespace {

constexpr pqxx::oid kInt8Oid = 20;
constexpr pqxx::oid kInt2Oid = 21;
constexpr pqxx::oid kInt4Oid = 23;
constexpr pqxx::oid kByteaOid = 17;
constexpr pqxx::oid kBoolOid = 16;

// "?12" -> "$12", outside quoted literals and identifiers.
std::string to_postgres_placeholders(const std::string& sql) {
  std::string out;
  out.reserve(sql.size());
  char quote = 0;
  for (size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    if (quote != 0) {
      if (c == quote) quote = 0;
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '?' && i + 1 < sql.size() && sql[i + 1] >= '0' && sql[i + 1] <= '9') {
      out += '$';
      continue;
    }
    out += c;
  }
  return out;
}

// Parameters go as text, typed by the server from context; bytea as its hex text form.
std::optional<std::string> to_text(const Value& v) {
  if (std::holds_alternative<std::nullptr_t>(v)) return std::nullopt;
  if (const auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  return "\\x" + to_hex(std::get<Bytes>(v));
}

Value from_field(const pqxx::field& f) {
  if (f.is_null()) return nullptr;
  switch (f.type()) {
    case kInt2Oid:
    case kInt4Oid:
    case kInt8Oid:
      return f.as<int64_t>();
    case kBoolOid:
      return static_cast<int64_t>(f.as<bool>() ? 1 : 0);
    case kByteaOid: {
      const pqxx::binarystring b(f);
      const auto* data = reinterpret_cast<const std::byte*>(b.data());
      return Bytes(data, data + b.size());
    }
    default:
      return std::string(f.c_str(), f.size());
  }
}

// Drops server notices ("relation already exists, skipping") instead of printing them.
class QuietNotices final : public pqxx::errorhandler {
 public:
  explicit QuietNotices(pqxx::connection_base& c) : pqxx::errorhandler(c) {}
  bool operator()(const char*) noexcept override { return false; }
};

struct Connection {
  explicit Connection(const std::string& url) : conn(url), quiet(conn) {}
  pqxx::connection conn;
  QuietNotices quiet;
};

// Why a transaction stopped, as the retry loop needs to know it.
enum class Failure { kNone, kRetry, kBroken };

class PgSession final : public Session {
 public:
  explicit PgSession(pqxx::transaction_base& tx) : tx_(tx) {}

  Result<Rows> run(const std::string& sql, const std::vector<Value>& params) override {
    std::vector<std::optional<std::string>> text;
    text.reserve(params.size());
    for (const auto& p : params) text.push_back(to_text(p));
    return guarded([&]() -> Rows {
      const pqxx::result r =
          tx_.exec_params(to_postgres_placeholders(sql), pqxx::prepare::make_dynamic_params(text));
      Rows out;
      out.affected = static_cast<int64_t>(r.affected_rows());
      out.rows.reserve(r.size());
      for (const auto& row : r) {
        std::vector<Value> cells;
        cells.reserve(row.size());
        for (const auto& f : row) cells.push_back(from_field(f));
        out.rows.push_back(std::move(cells));
      }
      return out;
    });
  }

  Result<void> exec(const std::string& sql) override {
    auto r = guarded([&]() -> int {
      tx_.exec(sql);
      return 0;
    });
    if (!r) return std::move(r).error();
    return {};
  }

  Failure failure() const { return failure_; }

 private:
  template <typename F>
  auto guarded(F&& f) -> Result<decltype(f())> {
    try {
      return f();
    } catch (const pqxx::transaction_rollback& e) {
      // The server chose this transaction to abort (serialisation failure or deadlock). Whatever
      // the body makes of this error, the transaction runs again.
      failure_ = Failure::kRetry;
      return Error(ErrorCode::kUnavailable, std::string("transaction aborted: ") + e.what());
    } catch (const pqxx::broken_connection& e) {
      failure_ = Failure::kBroken;
      return Error(ErrorCode::kUnavailable,
                   std::string("lost the PostgreSQL connection: ") + e.what());
    } catch (const pqxx::unique_violation& e) {
      return Error(ErrorCode::kAlreadyExists, e.what());
    } catch (const pqxx::disk_full& e) {
      return Error(ErrorCode::kStorageFull, std::string("PostgreSQL: ") + e.what());
    } catch (const pqxx::sql_error& e) {
      return Error(ErrorCode::kInternal, std::string("PostgreSQL: ") + e.what());
    } catch (const std::exception& e) {
      return Error(ErrorCode::kInternal, std::string("PostgreSQL: ") + e.what());
    }
  }

  pqxx::transaction_base& tx_;
  Failure failure_ = Failure::kNone;
};

// The channel committed announcements travel on (Session::announce -> pg_notify).
constexpr const char* kChannel = "cairn_announce";

// Hands each notification on the channel to the database's listener.
class Receiver final : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& c, const std::function<void(const std::string&)>& heard)
      : pqxx::notification_receiver(c, kChannel), heard_(heard) {}
  void operator()(const std::string& payload, int /*backend_pid*/) override { heard_(payload); }

 private:
  const std::function<void(const std::string&)>& heard_;
};

class PgDatabase final : public Database {
 public:
  explicit PgDatabase(PostgresOptions options) : options_(std::move(options)) {}
  ~PgDatabase() override { stop_listening(); }

  Result<void> listen(std::function<void(const std::string&)> heard,
                      std::function<void()> gap) override {
    stop_listening();
    if (!heard) return {};
    heard_ = std::move(heard);
    gap_ = std::move(gap);
    // The first connection is made here, so that a listener that cannot listen fails at start.
    std::unique_ptr<pqxx::connection> first;
    try {
      first = std::make_unique<pqxx::connection>(options_.url);
    } catch (const std::exception& e) {
      return Error(ErrorCode::kUnavailable, "cannot connect to PostgreSQL at " +
                                                redact_postgres_url(options_.url) + ": " +
                                                first_line(e.what()));
    }
    listening_ = true;
    listener_ = std::thread([this, c = std::move(first)]() mutable { listen_loop(std::move(c)); });
    return {};
  }

  Dialect dialect() const override { return Dialect::kPostgres; }

  // Connects once so that a wrong URL fails at start, not at the first request.
  Result<void> check() {
    auto conn = acquire();
    if (!conn) return std::move(conn).error();
    release(std::move(*conn));
    return {};
  }

  Result<void> transact(TxMode mode, const std::function<Result<void>(Session&)>& body) override {
    std::mt19937_64 rng(std::random_device{}());
    Error last(ErrorCode::kUnavailable, "no attempt made");
    // A server that is down for longer than a few reconnects is reported (503: the client
    // retries the request) rather than waited out here; aborts for serialisability get the
    // whole budget, since they resolve as soon as the competing transaction ends.
    constexpr int kMaxUnreachable = 3;
    int unreachable = 0;
    for (int attempt = 0; attempt < options_.max_attempts; ++attempt) {
      if (attempt > 0) backoff(attempt, rng);
      auto conn = acquire();
      if (!conn) {
        last = std::move(conn).error();
        if (++unreachable >= kMaxUnreachable) break;
        continue;
      }
      Failure failure = Failure::kNone;
      auto result = run_once(**conn, mode, body, failure);
      // A broken connection is closed, and the next attempt opens a fresh one. The transaction
      // it carried never committed (a lost COMMIT is in_doubt_error, which is not retried).
      release(failure == Failure::kBroken ? nullptr : std::move(*conn));
      if (failure == Failure::kNone) return result;
      last = std::move(result).error();
      if (failure == Failure::kBroken && ++unreachable >= kMaxUnreachable) break;
    }
    return last;
  }

 private:
  Result<void> run_once(Connection& c, TxMode mode,
                        const std::function<Result<void>(Session&)>& body, Failure& failure) {
    try {
      if (mode == TxMode::kWrite) {
        pqxx::transaction<pqxx::serializable> tx(c.conn);
        return finish(tx, body, failure);
      }
      pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(c.conn);
      return finish(tx, body, failure);
    } catch (const pqxx::broken_connection& e) {
      failure = Failure::kBroken;
      return Error(ErrorCode::kUnavailable,
                   std::string("lost the PostgreSQL connection: ") + e.what());
    } catch (const pqxx::in_doubt_error& e) {
      failure = Failure::kNone;  // Retrying could apply the writes twice.
      return Error(
          ErrorCode::kUnavailable,
          std::string("PostgreSQL commit outcome unknown; retry the request: ") + e.what());
    } catch (const pqxx::transaction_rollback& e) {
      failure = Failure::kRetry;
      return Error(ErrorCode::kUnavailable, std::string("transaction aborted: ") + e.what());
    } catch (const std::exception& e) {
      failure = Failure::kNone;
      return Error(ErrorCode::kInternal, std::string("PostgreSQL: ") + e.what());
    }
  }

  template <typename Tx>
  Result<void> finish(Tx& tx, const std::function<Result<void>(Session&)>& body, Failure& failure) {
    PgSession session(tx);
    auto result = body(session);
    failure = session.failure();
    if (failure != Failure::kNone) return result;
    if (!result) {
      tx.abort();
      return result;
    }
    // PostgreSQL delivers these when (and only if) the transaction commits.
    for (const auto& payload : session.announced()) {
      tx.exec("SELECT pg_notify('" + std::string(kChannel) + "', " + tx.quote(payload) + ")");
    }
    tx.commit();  // Throws on a serialisation failure detected at commit.
    return {};
  }

  // The listening thread: waits for notifications on its own connection; when that connection
  // breaks, reconnects (backing off up to 5 s) and reports a gap, since whatever was announced
  // meanwhile was not heard.
  void listen_loop(std::unique_ptr<pqxx::connection> conn) {
    std::mt19937_64 rng(std::random_device{}());
    int failures = 0;
    while (listening_) {
      try {
        if (!conn) {
          conn = std::make_unique<pqxx::connection>(options_.url);
          if (gap_) gap_();
        }
        Receiver receiver(*conn, heard_);
        failures = 0;
        while (listening_) conn->await_notification(0, 200'000);
      } catch (const std::exception&) {
        conn.reset();
        const int64_t cap_ms = std::min<int64_t>(5000, int64_t{100} << std::min(failures++, 6));
        std::uniform_int_distribution<int64_t> jitter(cap_ms / 2, cap_ms);
        const auto until =
            std::chrono::steady_clock::now() + std::chrono::milliseconds(jitter(rng));
        while (listening_ && std::chrono::steady_clock::now() < until) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
      }
    }
  }

  void stop_listening() {
    listening_ = false;
    if (listener_.joinable()) listener_.join();
  }

  void backoff(int attempt, std::mt19937_64& rng) {
    const int64_t cap_ms = std::min<int64_t>(1000, int64_t{5} << std::min(attempt, 8));
    std::uniform_int_distribution<int64_t> jitter(cap_ms / 2, cap_ms);
    std::this_thread::sleep_for(std::chrono::milliseconds(jitter(rng)));
  }

  Result<std::unique_ptr<Connection>> acquire() {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return !idle_.empty() || open_ < options_.pool_size; });
      if (!idle_.empty()) {
        auto c = std::move(idle_.back());
        idle_.pop_back();
        if (c->conn.is_open()) return c;
        --open_;
      }
      ++open_;
    }
    try {
      return std::make_unique<Connection>(options_.url);
    } catch (const std::exception& e) {
      {
        std::lock_guard lock(mu_);
        --open_;
      }
      cv_.notify_one();
      // libpq's message can quote the connection string; say where, without the password.
      return Error(ErrorCode::kUnavailable, "cannot connect to PostgreSQL at " +
                                                redact_postgres_url(options_.url) + ": " +
                                                first_line(e.what()));
    }
  }

  // Returns a connection to the pool; nullptr closes the slot of one that broke.
  void release(std::unique_ptr<Connection> c) {
    {
      std::lock_guard lock(mu_);
      if (c) {
        idle_.push_back(std::move(c));
      } else {
        --open_;
      }
    }
    cv_.notify_one();
  }

  static std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

  PostgresOptions options_;
  std::function<void(const std::string&)> heard_;
  std::function<void()> gap_;
  std::atomic<bool> listening_{false};
  std::thread listener_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Connection>> idle_;
  int open_ = 0;
};

}  // namespace

bool is_postgres_url(const std::string& url) {
  return url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
}

std::string redact_postgres_url(const std::string& url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  const size_t at = url.find('@', scheme + 3);
  const size_t slash = url.find('/', scheme + 3);
  if (at == std::string::npos || (slash != std::string::npos && slash < at)) return url;
  const size_t colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

Result<std::unique_ptr<Database>> open_postgres(const PostgresOptions& options) {
  auto db = std::make_unique<PgDatabase>(options);
  CAIRN_RETURN_IF_ERROR(db->check());
  return std::unique_ptr<Database>(std::move(db));
}

}  // namespace cairn::store::sql
