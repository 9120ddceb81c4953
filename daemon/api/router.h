#pragma once

// Maps (method, path) to a handler. Patterns are exact paths or a prefix ending in "*", whose
// remainder is passed to the handler as `param`. Built once at start-up, then read-only: safe
// to share between threads. Each route also keeps its latency histogram (atomics), which the
// connections record into and /metrics reads.

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "daemon/api/http_types.h"
#include "daemon/api/latency.h"
#include "daemon/service/notifier.h"

namespace cairn::api {

class Router {
 public:
  // A handler gets the whole request (body read) and the path remainder matched by "*".
  using Handler = std::function<HttpResponse(const HttpRequest&, const std::string& param)>;
  // A streaming route gets the request head first; the body follows through the sink. An error
  // is answered at once, without reading the body.
  using SinkFactory =
      std::function<Result<std::unique_ptr<BodySink>>(const HttpRequest&, const std::string&)>;

  // A WebSocket route (GET with an Upgrade): `open` gets the request first, on the worker pool,
  // and refuses it (answered as HTTP, no upgrade) or returns how to attach the connection once
  // upgraded. What attach returns lives as long as the connection.
  using SocketPeer = service::NotifyPeer;
  using SocketAttach = std::function<std::shared_ptr<void>(std::weak_ptr<SocketPeer>)>;
  using SocketOpen = std::function<Result<SocketAttach>(const HttpRequest&)>;

  // Checks a request head before its body is read: the bearer token of a request to a handler
  // route that carries a body, so that nobody who cannot authenticate makes the daemon read (and
  // hold) a body. Runs on the worker pool; an error is the answer, and the body is never read.
  using Gate = std::function<Result<void>(const HttpRequest&)>;

  void add(std::string method, std::string pattern, Handler handler);
  void add_streaming(std::string method, std::string pattern, SinkFactory factory);
  void add_socket(std::string pattern, SocketOpen open);
  // The gate of every path without a gate of its own.
  void set_gate(Gate gate) { gate_ = std::move(gate); }
  // The gate of paths that start with `prefix` (the longest prefix wins): the web page's routes
  // take a session cookie, not a bearer token.
  void set_gate(std::string prefix, Gate gate) {
    prefix_gates_.emplace_back(std::move(prefix), std::move(gate));
  }
  // The gate for `path`; empty when none is set.
  const Gate& gate(std::string_view path = {}) const;

  struct Match {
    const Handler* handler = nullptr;
    const SinkFactory* sink = nullptr;
    const SocketOpen* socket = nullptr;
    std::string param;
    bool path_known = false;  // The path matched some route, but not for this method.
    int route = -1;           // For record_latency(); -1 when nothing matched.
  };
  Match match(const std::string& method, const std::string& path) const;

  // Records how long a request to `route` (a Match's, or -1) took, from its head to its answer.
  void record_latency(int route, uint64_t micros) const;
  // Every route's histogram that has recordings, as Prometheus text (with HELP and TYPE lines):
  // cairnd_request_duration_seconds{method,route}; route is the pattern, never the path, so that
  // the series stay few.
  std::string latency_metrics() const;

 private:
  struct Route {
    std::string method;
    std::string pattern;
    Handler handler;
    SinkFactory sink;
    SocketOpen socket;
    std::unique_ptr<LatencyHistogram> latency = std::make_unique<LatencyHistogram>();
  };
  std::vector<Route> routes_;
  std::unique_ptr<LatencyHistogram> unmatched_ = std::make_unique<LatencyHistogram>();
  Gate gate_;
  std::vector<std::pair<std::string, Gate>> prefix_gates_;
};

}  // namespace cairn::api
