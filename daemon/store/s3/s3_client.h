#pragma once

// A minimal S3 client over libcurl: the handful of object calls the blob store needs (PUT, GET,
// HEAD, DELETE, bucket create/list for tests and tools), every request signed with SigV4, retried
// with exponential backoff and full jitter on 5xx, 429/SlowDown and network failures. Also hands
// out pre-signed URLs for clients. Safe from any thread (one curl handle per thread).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "common/bytes.h"
#include "common/error.h"
#include "daemon/store/s3/sigv4.h"

namespace cairn::store::s3 {

struct Location {
  std::string bucket;
  std::string endpoint;  // "https://s3.us-east-1.amazonaws.com" or "http://127.0.0.1:9000".
  std::string region = "us-east-1";
  bool path_style = true;  // false: virtual-host ("bucket.host").
  std::string prefix;      // Key prefix inside the bucket, "" or ending in '/'.
};

// Parses "s3://BUCKET?endpoint=URL&region=R&style=path|virtual&prefix=P". Without endpoint, AWS
// at s3.<region>.amazonaws.com with virtual-host addressing; with an endpoint, path style unless
// style=virtual (an IP endpoint cannot take virtual-host addressing).
Result<Location> parse_location(const std::string& url);

// Credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, else from the
// shared credentials file (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, profile AWS_PROFILE
// or "default"). kInvalidArgument naming where it looked if there are none.
Result<Credentials> load_credentials();

struct Response {
  long status = 0;
  std::string body;
  Headers headers;  // Names lower-cased.
  std::string header(const std::string& lower_name) const;
};

struct PresignedRequest {
  std::string url;
  Headers headers;  // To send exactly as given.
};

class Client {
 public:
  Client(Location location, Credentials credentials, int max_attempts = 6);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const Location& location() const { return location_; }

  // Sends one request about `key` ("" for the bucket itself) and returns the final response,
  // retrying transient failures. Network failures after the last attempt are kUnavailable; an
  // HTTP error status is returned as a Response for the caller to judge.
  Result<Response> send(const std::string& method, const std::string& key, const Headers& query,
                        const Headers& headers, ByteView body);

  // A pre-signed URL for `method` on `key`, valid `ttl_seconds`, with `headers` signed into it.
  PresignedRequest presign(const std::string& method, const std::string& key,
                           const Headers& headers, int64_t ttl_seconds) const;

  // The key's full name in the bucket (location prefix applied).
  std::string full_key(const std::string& key) const { return location_.prefix + key; }

 private:
  struct Target {
    std::string url;   // Without query.
    std::string host;  // As sent in Host.
    std::string path;  // Unencoded, starts with '/'.
  };
  Target target(const std::string& key) const;
  Result<Response> send_once(const std::string& method, const Target& t, const Headers& query,
                             const Headers& headers, ByteView body);

  Location location_;
  Credentials credentials_;
  int max_attempts_;
};

// Turns an S3 error response into an Error ("S3 PUT chunks/ab..: 403 AccessDenied: ...").
Error s3_error(const std::string& what, const Response& r);

}  // namespace cairn::store::s3
