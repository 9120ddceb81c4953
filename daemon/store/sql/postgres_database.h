#pragma once

#include <memory>
#include <string>

#include "daemon/store/sql/sql.h"

namespace cairn::store::sql {

struct PostgresOptions {
  // A libpq connection URL ("postgresql://user@host:port/db"). Whatever it leaves out comes from
  // the standard PG* environment variables and ~/.pgpass, as for psql.
  std::string url;
  int pool_size = 8;
  int max_attempts = 10;  // Per transaction, counting serialisation retries.
};

// sql::Database on PostgreSQL through libpqxx: a pool of connections, serialisable write
// transactions retried on SQLSTATE 40001/40P01 with jittered exponential backoff, and connections
// that broke (a restarted server) replaced on their next use. Fails if the server cannot be
// reached now.
Result<std::unique_ptr<Database>> open_postgres(const PostgresOptions& options);

// `url` with any password replaced by "***", for messages and logs.
std::string redact_postgres_url(const std::string& url);

// True for the URLs open_postgres takes.
bool is_postgres_url(const std::string& url);

}  // namespace cairn::store::sql
