#pragma once

// AWS Signature Version 4 for S3-compatible stores: header signing (for requests the daemon
// sends) and query-string pre-signing (for URLs clients use to move chunk bytes straight to the
// store). Pure functions: no I/O, no clock (the caller passes the time), safe from any thread.
// Specification: "Signature Version 4 signing process" and "Authenticating Requests: Using Query
// Parameters" in the AWS documentation. Known-answer tests in tests/unit/daemon/sigv4_test.cpp.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/hash.h"

namespace cairn::store::s3 {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // Empty unless temporary credentials.
};

struct Scope {
  std::string region = "us-east-1";
  std::string service = "s3";
};

using Headers = std::vector<std::pair<std::string, std::string>>;

// A request to sign. Path and query are given unencoded; signing encodes them.
struct Request {
  std::string method;
  std::string host;  // As sent in Host: "bucket.s3.amazonaws.com" or "127.0.0.1:9000".
  std::string path;  // Starts with '/'.
  Headers query;
  Headers headers;  // Extra headers to sign (Host is added). Names in any case.
  std::string payload_sha256_hex = "UNSIGNED-PAYLOAD";
};

inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";

// RFC 3986 percent-encoding as SigV4 wants it: unreserved characters stay, everything else is
// %XX (upper case); '/' stays only when `keep_slash`.
std::string uri_encode(std::string_view text, bool keep_slash);

// "20150830T123600Z" for Unix seconds.
std::string amz_date(int64_t unix_seconds);

// The canonical request (step 1 of the signing process); `signed_headers` receives the
// semicolon-separated list of signed header names.
std::string canonical_request(const Request& request, std::string* signed_headers);

// HMAC chain "AWS4"+secret -> date -> region -> service -> "aws4_request".
Digest signing_key(std::string_view secret, std::string_view yyyymmdd, const Scope& scope);

// Signs with an Authorization header. Returns the headers to send besides the request's own:
// x-amz-date, x-amz-content-sha256 (S3), x-amz-security-token (if any), authorization.
Headers sign_headers(const Request& request, const Credentials& credentials, const Scope& scope,
                     int64_t now_unix);

// Pre-signs: returns the encoded query string to append after '?', including the request's own
// query parameters and X-Amz-Signature. The payload is UNSIGNED-PAYLOAD; headers in
// `request.headers` (for example x-amz-checksum-sha256) are signed and must be sent as given.
std::string presign_query(const Request& request, const Credentials& credentials,
                          const Scope& scope, int64_t now_unix, int64_t expires_seconds);

}  // namespace cairn::store::s3
