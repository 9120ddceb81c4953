#include "daemon/api/router.h"

namespace cairn::api {

void Router::add(std::string method, std::string pattern, Handler handler) {
  routes_.push_back({std::move(method), std::move(pattern), std::move(handler), nullptr, nullptr});
}

void Router::add_streaming(std::string method, std::string pattern, SinkFactory factory) {
  routes_.push_back({std::move(method), std::move(pattern), nullptr, std::move(factory), nullptr});
}

void Router::add_socket(std::string pattern, SocketOpen open) {
  routes_.push_back({"GET", std::move(pattern), nullptr, nullptr, std::move(open)});
}

const Router::Gate& Router::gate(std::string_view path) const {
  const Gate* best = &gate_;
  size_t best_length = 0;
  for (const auto& [prefix, gate] : prefix_gates_) {
    if (prefix.size() > best_length && path.substr(0, prefix.size()) == prefix) {
      best = &gate;
      best_length = prefix.size();
    }
  }
  return *best;
}

Router::Match Router::match(const std::string& method, const std::string& path) const {
  Match m;
  for (size_t i = 0; i < routes_.size(); ++i) {
    const Route& route = routes_[i];
    std::string param;
    bool hit = false;
    if (!route.pattern.empty() && route.pattern.back() == '*') {
      const std::string prefix = route.pattern.substr(0, route.pattern.size() - 1);
      if (path.size() > prefix.size() && path.compare(0, prefix.size(), prefix) == 0) {
        hit = true;
        param = path.substr(prefix.size());
      }
    } else {
      hit = path == route.pattern;
    }
    if (!hit) continue;
    m.path_known = true;
    if (route.method != method) continue;
    m.handler = route.handler ? &route.handler : nullptr;
    m.sink = route.sink ? &route.sink : nullptr;
    m.socket = route.socket ? &route.socket : nullptr;
    m.param = std::move(param);
    m.route = static_cast<int>(i);
    return m;
  }
  return m;
}

void Router::record_latency(int route, uint64_t micros) const {
  const bool known = route >= 0 && static_cast<size_t>(route) < routes_.size();
  (known ? *routes_[static_cast<size_t>(route)].latency : *unmatched_).observe(micros);
}

std::string Router::latency_metrics() const {
  constexpr std::string_view kName = "cairnd_request_duration_seconds";
  std::string out =
      "# HELP cairnd_request_duration_seconds Time from a request's head to its answer's last "
      "byte, per route.\n# TYPE cairnd_request_duration_seconds histogram\n";
  for (const Route& r : routes_) {
    // Patterns and methods are the daemon's own constants: nothing to escape.
    out += r.latency->prometheus(kName, "method=\"" + r.method + "\",route=\"" + r.pattern + "\"");
  }
  out += unmatched_->prometheus(kName, "method=\"\",route=\"unmatched\"");
  return out;
}

}  // namespace cairn::api
