#pragma once

// Maps (method, path) to a handler. Patterns are exact paths or a prefix ending in "*", whose
// remainder is passed to the handler as `param`. Built once at start-up, then read-only: safe
// to share between threads.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "daemon/api/http_types.h"

namespace cairn::api {

class Router {
 public:
  // A handler gets the whole request (body read) and the path remainder matched by "*".
  using Handler = std::function<HttpResponse(const HttpRequest&, const std::string& param)>;
  // A streaming route gets the request head first; the body follows through the sink. An error
  // is answered at once, without reading the body.
  using SinkFactory =
      std::function<Result<std::unique_ptr<BodySink>>(const HttpRequest&, const std::string&)>;

  void add(std::string method, std::string pattern, Handler handler);
  void add_streaming(std::string method, std::string pattern, SinkFactory factory);

  struct Match {
    const Handler* handler = nullptr;
    const SinkFactory* sink = nullptr;
    std::string param;
    bool path_known = false;  // The path matched some route, but not for this method.
  };
  Match match(const std::string& method, const std::string& path) const;

 private:
  struct Route {
    std::string method;
    std::string pattern;
    Handler handler;
    SinkFactory sink;
  };
  std::vector<Route> routes_;
};

}  // namespace cairn::api
