#include "tests/unit/daemon/backends.h"

#include <cstdlib>
#include <stdexcept>

#define PQXX_HAVE_OPTIONAL 1
#include <pqxx/pqxx>

#include "common/bytes.h"
#include "common/hash.h"
#include "daemon/store/s3/s3_blob_store.h"

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

namespace {

// The test server's URL with another bucket.
std::string with_bucket(const std::string& url, const std::string& bucket) {
  const size_t q = url.find('?');
  return "s3://" + bucket + (q == std::string::npos ? std::string() : url.substr(q));
}

std::unique_ptr<store::s3::Client> client_for(const std::string& url) {
  auto location = store::s3::parse_location(url);
  auto credentials = store::s3::load_credentials();
  if (!location || !credentials) throw std::runtime_error("bad CAIRN_TEST_S3_URL or credentials");
  return std::make_unique<store::s3::Client>(*location, *credentials);
}

}  // namespace

ScratchBucket::ScratchBucket() {
  url_ = with_bucket(env("CAIRN_TEST_S3_URL"), "cairn-t-" + to_hex(secure_random(6)));
  auto client = client_for(url_);
  if (auto made = store::create_bucket(*client); !made) {
    throw std::runtime_error("create test bucket: " + made.error().message());
  }
}

ScratchBucket::~ScratchBucket() {
  // Best effort: the test server is thrown away at the end of the run anyway.
  auto client = client_for(url_);
  auto listed = client->send("GET", "", {{"list-type", "2"}}, {}, {});
  if (listed) {
    const std::string& body = listed->body;
    for (size_t pos = body.find("<Key>"); pos != std::string::npos;
         pos = body.find("<Key>", pos + 1)) {
      const size_t end = body.find("</Key>", pos);
      const std::string key = body.substr(pos + 5, end - pos - 5);
      // Keys come back with the location's prefix; send() adds it again, so strip it.
      const std::string bare = key.substr(client->location().prefix.size());
      (void)client->send("DELETE", bare, {}, {}, {});
    }
  }
  (void)client->send("DELETE", "", {}, {}, {});
}

}  // namespace cairn::testing
