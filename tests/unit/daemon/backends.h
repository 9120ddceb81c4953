#pragma once

// The real backends the conformance suites run on. PostgreSQL and S3 come from the servers that
// scripts/start-postgres.sh and scripts/start-s3.sh start (scripts/test.sh starts both). Without
// them a test skips with a message naming the script, except in CI (CI=true) or when
// CAIRN_TEST_REQUIRE lists the backend ("postgres,s3"): then it fails, so that no backend goes
// untested by accident.

#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <string>

namespace cairn::testing {

// One parameter of a conformance suite: the backend's name in test names, and the test server
// it needs ("postgres", "s3", or "" for an embedded one).
struct Backend {
  std::string name;
  std::string requires_server;
};

// Names the parameter in gtest's messages.
inline void PrintTo(const Backend& backend, std::ostream* os) { *os << backend.name; }

inline std::string backend_name(const ::testing::TestParamInfo<Backend>& info) {
  return info.param.name;
}

// Why a backend cannot be used, or nullopt if it can. `name` is "postgres" or "s3".
std::optional<std::string> backend_missing(const std::string& name);

// Whether a missing backend must fail the test instead of skipping it.
bool backend_required(const std::string& name);

// A new, empty PostgreSQL database on the test server; dropped when the object dies.
class ScratchPostgres {
 public:
  ScratchPostgres();
  ~ScratchPostgres();
  ScratchPostgres(const ScratchPostgres&) = delete;
  ScratchPostgres& operator=(const ScratchPostgres&) = delete;
  const std::string& url() const { return url_; }

 private:
  std::string admin_url_;
  std::string name_;
  std::string url_;
};

// A new, empty bucket on the test S3 server, as a --blobs URL; emptied and removed at the end
// (best effort).
class ScratchBucket {
 public:
  ScratchBucket();
  ~ScratchBucket();
  ScratchBucket(const ScratchBucket&) = delete;
  ScratchBucket& operator=(const ScratchBucket&) = delete;
  const std::string& url() const { return url_; }

 private:
  std::string url_;
};

}  // namespace cairn::testing

// In a fixture's SetUp: skips (or fails, when required) unless `name` is available.
#define CAIRN_REQUIRE_BACKEND(name)                                       \
  do {                                                                    \
    if (auto why = ::cairn::testing::backend_missing(name)) {             \
      if (::cairn::testing::backend_required(name)) GTEST_FAIL() << *why; \
      GTEST_SKIP() << *why;                                               \
    }                                                                     \
  } while (false)
