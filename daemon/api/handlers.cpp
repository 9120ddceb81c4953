#include "daemon/api/handlers.h"

#include <charconv>
#include <string>
#include <utility>

#include "common/hash.h"
#include "daemon/api/route_kit.h"

namespace cairn::api {

namespace routes {

Metrics& metrics() {
  static Metrics m;
  return m;
}

std::variant<RequestContext, HttpResponse> admit(Services& services, RateLimiter* limiter,
                                                 const HttpRequest& req) {
  count(metrics().requests);
  auto user = services.identity().authenticate(req.authorization);
  if (!user) return fail(user.error());
  req.caller = user->name;
  if (limiter != nullptr && user->token_hash) {
    if (const int64_t wait = limiter->take(*user->token_hash); wait > 0) {
      count(metrics().rate_limited);
      HttpResponse r = HttpResponse::error(
          429, "rate_limited",
          "too many requests with this token; retry in " + std::to_string(wait) + " s");
      r.headers.emplace_back("Retry-After", std::to_string(wait));
      return r;
    }
  }
  return RequestContext{std::move(*user), req.device.substr(0, 128), services.now(),
                        services.now_ms()};
}

std::string query_or(const HttpRequest& req, const char* key, std::string fallback) {
  auto it = req.query.find(key);
  return it == req.query.end() ? fallback : it->second;
}

Result<int64_t> query_number(const HttpRequest& req, const char* key, int64_t fallback, int64_t min,
                             int64_t max) {
  auto it = req.query.find(key);
  if (it == req.query.end()) return fallback;
  const std::string& text = it->second;
  int64_t n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || p != text.data() + text.size() || n < min || n > max) {
    return make_error(ErrorCode::kInvalidArgument, std::string(key) + " must be a number");
  }
  return n;
}

namespace {

std::string metrics_text(const service::Notifier* notifier) {
  const auto& m = metrics();
  std::string out;
  auto line = [&](const char* name, const char* help, uint64_t value,
                  const char* type = "counter") {
    out += "# HELP ";
    out += name;
    out += " ";
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += " ";
    out += type;
    out += "\n";
    out += name;
    out += " ";
    out += std::to_string(value);
    out += "\n";
  };
  line("cairnd_requests_total", "Authenticated API requests.", m.requests.load());
  line("cairnd_errors_total", "Requests answered with an error.", m.errors.load());
  line("cairnd_chunks_received_total", "Chunks verified and stored.", m.chunks_received.load());
  line("cairnd_chunk_bytes_received_total", "Bytes of chunks verified and stored.",
       m.chunk_bytes_received.load());
  line("cairnd_chunks_rejected_total", "Chunk uploads whose bytes did not match their hash.",
       m.chunks_rejected.load());
  line("cairnd_chunks_served_total", "Chunks sent to clients.", m.chunks_served.load());
  line("cairnd_packs_received_total", "Packs verified and stored.", m.packs_received.load());
  line("cairnd_packs_rejected_total", "Pack uploads with a chunk that did not match its hash.",
       m.packs_rejected.load());
  line("cairnd_pack_reads_total", "Ranges of packs sent to clients.", m.pack_reads.load());
  line("cairnd_commits_total", "Commit requests applied.", m.commits.load());
  line("cairnd_rate_limited_total", "Requests refused with 429: over their token's rate.",
       m.rate_limited.load());
  if (notifier != nullptr) {
    line("cairnd_notify_connections", "Open /v1/notify WebSocket connections.",
         notifier->connections(), "gauge");
    line("cairnd_notify_events_total", "Change events sent on /v1/notify connections.",
         notifier->events_sent());
  }
  return out;
}

}  // namespace

}  // namespace routes

using routes::count;
using routes::fail;
using routes::metrics;
using routes::metrics_text;
using routes::RequestContext;
using routes::Services;

bool may_read_metrics(const HttpRequest& req, const MetricsAccess& access) {
  const bool loopback =
      req.peer == "::1" || req.peer.starts_with("127.") || req.peer.starts_with("::ffff:127.");
  if (loopback && !req.forwarded) return true;
  constexpr std::string_view kBearer = "Bearer ";
  if (access.token.empty() || !req.authorization.starts_with(kBearer)) return false;
  const std::string_view presented = std::string_view(req.authorization).substr(kBearer.size());
  // Digests of equal length, compared in constant time: the comparison says nothing of the token.
  const Digest a = sha256(as_bytes(presented));
  const Digest b = sha256(as_bytes(access.token));
  return constant_time_equal(a.bytes(), b.bytes());
}

void register_routes(Router& router, Services& services, RateLimiter* limiter,
                     service::Notifier* notifier, MetricsAccess metrics_access) {
  router.add("GET", "/healthz", [](const HttpRequest&, const std::string&) {
    HttpResponse r;
    r.content_type = "text/plain";
    r.body = "ok\n";
    return r;
  });

  router.add("GET", "/metrics",
             [notifier, &router, access = std::move(metrics_access)](const HttpRequest& req,
                                                                     const std::string&) {
               if (!may_read_metrics(req, access)) {
                 return fail(
                     Error(ErrorCode::kPermissionDenied,
                           "/metrics answers loopback clients, or a request with the metrics token "
                           "(cairnd serve --metrics-token-file)"));
               }
               HttpResponse r;
               r.content_type = "text/plain; version=0.0.4";
               r.body = metrics_text(notifier) + router.latency_metrics();
               return r;
             });

  // Change notifications: the token is checked here and then twice a second for as long as the
  // connection stays open (the notifier closes it once the token is no longer valid).
  if (notifier != nullptr) {
    router.add_socket(
        "/v1/notify",
        [&services, notifier, limiter](const HttpRequest& req) -> Result<Router::SocketAttach> {
          CAIRN_ASSIGN_OR_RETURN(auto user, services.identity().authenticate(req.authorization));
          req.caller = user.name;
          count(metrics().requests);
          // An upgrade counts against the token's rate like any request, and each user has a
          // bounded number of sockets open: each holds a descriptor and a little memory.
          if (limiter != nullptr && user.token_hash && limiter->take(*user.token_hash) > 0) {
            count(metrics().rate_limited);
            return make_error(ErrorCode::kUnavailable,
                              "too many requests with this token; retry shortly");
          }
          auto place = notifier->reserve(user);
          if (!place) {
            return make_error(ErrorCode::kUnavailable, "too many notification sockets open for " +
                                                           user.name + "; close one first");
          }
          return Router::SocketAttach(
              [notifier, place = std::move(place)](std::weak_ptr<Router::SocketPeer> peer) {
                notifier->subscribe(place, std::move(peer));
                return place;
              });
        });
  }

  // Every request to a handler route that carries a body is a /v1 call made with a token: check
  // the token before reading the body (then the handler checks it again, with the rate limit).
  router.set_gate([&services](const HttpRequest& req) -> Result<void> {
    auto user = services.identity().authenticate(req.authorization);
    if (!user) {
      count(metrics().errors);
      return std::move(user).error();
    }
    return {};
  });

  // Authenticated like everything under /v1, so that a client's first call proves its token.
  router.add("GET", "/v1/config", [&services, limiter](const HttpRequest& req, const std::string&) {
    return routes::authed(services, limiter, req, [&](const RequestContext&) {
      return HttpResponse::json(200, protocol::encode_json(services.server_config()));
    });
  });

  router.add("GET", "/v1/whoami", [&services, limiter](const HttpRequest& req, const std::string&) {
    return routes::authed(services, limiter, req, [&](const RequestContext& ctx) {
      return HttpResponse::json(
          200, protocol::encode_json(protocol::WhoAmI{ctx.user.name, ctx.user.user_id}));
    });
  });

  routes::Routes api(router, services, limiter);
  routes::add_chunk_routes(api);
  routes::add_file_routes(api);
  routes::add_sharing_routes(api);
}

}  // namespace cairn::api
