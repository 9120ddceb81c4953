#pragma once

// The HTTP/1.1 front of cairnd (Boost.Beast behind a pimpl, so including this header costs
// nothing). I/O runs on a few Asio threads; handlers run on a worker pool so that a slow fsync or
// database transaction never stalls other connections. Request bodies for streaming routes go to
// their BodySink in pieces of at most 256 KiB: the daemon never holds a whole chunk.

#include <cstdint>
#include <memory>
#include <string>

#include "common/error.h"

namespace cairn::api {
class Router;
}

namespace cairn::http {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0 picks a free port.
  int io_threads = 2;
  int worker_threads = 8;
  uint32_t max_header_bytes = 16 * 1024;
  uint64_t max_json_body_bytes = 32 * 1024 * 1024;
  uint64_t max_stream_body_bytes = 64 * 1024 * 1024;
  // Bytes of JSON bodies read and decoded at once, over every connection: past it a request is
  // answered 503 with Retry-After before its body is read. A parsed body takes several times
  // its text (common/protocol rejects the densest), so this bounds the daemon's memory.
  uint64_t max_json_bytes_in_flight = 64 * 1024 * 1024;
  // Open HTTP connections at most; 0: as many as the descriptor limit leaves room for (its soft
  // RLIMIT_NOFILE less 64 for files and the database). At the limit, the connection idle the
  // longest (a keep-alive one waiting for its next request) is closed to make room; with none
  // idle, a new connection is answered 503 and closed.
  int max_connections = 0;
  // A connection silent this long (no byte of a request arriving, no byte of an answer leaving)
  // is closed. Per read and write, not per request: a slow upload that keeps moving never
  // times out.
  int idle_timeout_seconds = 120;
  // HTTPS with this certificate chain and key (PEM files); plain HTTP when both are empty.
  std::string tls_cert_file;
  std::string tls_key_file;
  // One "request" log line per request (common/protocol/log.h): method, path (never the query
  // string, which can carry a signature), status, body bytes in and out, duration, the user it
  // authenticated as and the client's address. Never a token.
  bool access_log = true;
};

class Server {
 public:
  // `router` must outlive the server.
  Server(const api::Router& router, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens. kUnavailable if the address is taken, kInvalidArgument if it is not an
  // address.
  Result<void> listen();
  // The bound port (the real one when options.port was 0). Valid after listen().
  uint16_t port() const;
  // Serves until SIGINT or SIGTERM (or stop()), then stops accepting, lets requests in flight
  // finish (up to 10 s) and returns.
  void run();
  // Asks run() to return as after a signal. Safe from any thread.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cairn::http
