#pragma once

#include <memory>
#include <string>

#include "daemon/store/sql/sql.h"

namespace cairn::store::sql {

// sql::Database on one SQLite file in WAL mode with synchronous=FULL: a commit that returned is
// on disk. Writes go through one connection behind a mutex (SQLite admits one writer at a time
// anyway) and take the write lock up front (BEGIN IMMEDIATE), so they never need to be retried.
// Reads use a small pool of connections of their own and so never wait for a write.
Result<std::unique_ptr<Database>> open_sqlite(const std::string& path, bool create);

}  // namespace cairn::store::sql
