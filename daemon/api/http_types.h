#pragma once

// The daemon's own view of HTTP: what handlers receive and return. Boost.Beast stays in
// daemon/http/, which translates to and from these types.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/error.h"

namespace cairn::api {

struct HttpRequest {
  std::string method;                        // "GET", "PUT", ...
  std::string target;                        // As sent: path and query.
  std::string path;                          // Target before '?', not decoded.
  std::map<std::string, std::string> query;  // Decoded query parameters.
  std::string authorization;
  std::string device;  // X-Cairn-Device, for version metadata.
  // What the web page's routes read (daemon/web/); empty when absent.
  std::string cookie;
  std::string host;
  std::string origin;
  std::string fetch_site;  // Sec-Fetch-Site
  std::string accept;
  std::string range;
  std::string content_type;
  std::string forwarded_proto;  // X-Forwarded-Proto, from a TLS proxy in front
  std::string csrf;             // X-Cairn-CSRF: the web page's token, on its script's requests
  std::string peer;             // The client's address, as the connection sees it.
  bool forwarded = false;       // Carries X-Forwarded-For or Forwarded: a proxy relayed it.
  // The user the request authenticated as, once it has; for the access log. Set through a const
  // request by the code that authenticates (the session owns a mutable one).
  mutable std::string caller;
  std::optional<uint64_t> content_length;
  std::string body;  // Empty for streaming routes.

  // Sets `target` as sent, and `path` and `query` from it.
  void set_target(std::string sent);
};

// Produces a response body piece by piece, on the connection's thread as it is sent.
class BodySource {
 public:
  virtual ~BodySource() = default;
  // The next piece, valid until the next call; empty at the end. An error ends the connection
  // early, so that the client sees fewer bytes than Content-Length announced.
  virtual Result<ByteView> next() = 0;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::string file_path;  // When set, the body is file_size bytes of this file from file_offset.
  uint64_t file_offset = 0;
  uint64_t file_size = 0;
  std::shared_ptr<BodySource> source;  // When set, the body is source_size bytes from it.
  uint64_t source_size = 0;
  std::vector<std::pair<std::string, std::string>> headers;

  static HttpResponse json(int status, std::string body);
  // The JSON error body with the status that `error`'s code maps to.
  static HttpResponse error(const Error& error);
  // Every error body is built here: {"error":{"code":CODE,"message":MESSAGE}} with `status`.
  static HttpResponse error(int status, std::string_view code, std::string message);
};

// The HTTP status for an error code: the one place that mapping lives.
int http_status_for(ErrorCode code);

// Receives a streamed request body piece by piece. Owned by one connection.
class BodySink {
 public:
  virtual ~BodySink() = default;
  virtual Result<void> write(ByteView bytes) = 0;
  // Called once the whole body has arrived. May block (fsync, database).
  virtual HttpResponse finish() = 0;
};

// Decodes %XX escapes and '+' (as space, in queries). nullopt on a malformed escape.
std::optional<std::string> url_decode(std::string_view in, bool plus_is_space);
// Splits "a=1&b=2" into decoded pairs; malformed pairs are dropped.
std::map<std::string, std::string> parse_query(std::string_view query);

}  // namespace cairn::api
