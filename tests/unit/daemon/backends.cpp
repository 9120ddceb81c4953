#include "tests/unit/daemon/backends.h"

#include <cstdlib>
#include <stdexcept>

#define PQXX_HAVE_OPTIONAL 1
#include <pqxx/pqxx>

#include "common/bytes.h"
#include "common/hash.h"

namespace cairn::testing {
namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::string(v) : std::string();
}

// "scheme://user@host:port/db?x" -> the same URL naming database `db`.
std::string with_database(const std::string& url, const std::string& db) {
  const size_t authority = url.find("://") + 3;
  const size_t slash = url.find('/', authority);
  const size_t query = url.find('?', authority);
  std::string base = url.substr(0, slash == std::string::npos ? query : slash);
  std::string tail = query == std::string::npos ? std::string() : url.substr(query);
  return base + "/" + db + tail;
}

}  // namespace

std::optional<std::string> backend_missing(const std::string& name) {
  if (name == "postgres" && env("CAIRN_TEST_POSTGRES_URL").empty()) {
    return std::string("PostgreSQL test server not running: eval \"$(scripts/start-postgres.sh)\"");
  }
  if (name == "s3" && env("CAIRN_TEST_S3_URL").empty()) {
    return std::string("S3 test server not running: eval \"$(scripts/start-s3.sh)\"");
  }
  return std::nullopt;
}

bool backend_required(const std::string& name) {
  if (env("CI") == "true") return true;
  const std::string required = "," + env("CAIRN_TEST_REQUIRE") + ",";
  return required.find("," + name + ",") != std::string::npos;
}

ScratchPostgres::ScratchPostgres() : admin_url_(env("CAIRN_TEST_POSTGRES_URL")) {
  name_ = "cairn_t_" + to_hex(secure_random(6));
  pqxx::connection c(admin_url_);
  pqxx::nontransaction tx(c);
  tx.exec("CREATE DATABASE " + name_);
  url_ = with_database(admin_url_, name_);
}

ScratchPostgres::~ScratchPostgres() {
  try {
    pqxx::connection c(admin_url_);
    pqxx::nontransaction tx(c);
    tx.exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  } catch (const std::exception&) {
    // The server is gone already; its folder is thrown away with it.
  }
}

}  // namespace cairn::testing
