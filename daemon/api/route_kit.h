#pragma once

// Internal to daemon/api: what the route files share. Every authenticated JSON route is one
// `Routes::json` or `Routes::query` line: authenticate and meter the caller, decode the body,
// call one service method, encode its answer. Routes that stream bytes or take no token are
// written out in their own file, next to their sinks and sources.

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "common/protocol/protocol.h"
#include "daemon/api/http_types.h"
#include "daemon/api/rate_limit.h"
#include "daemon/api/router.h"
#include "daemon/service/services.h"

namespace cairn::api::routes {

using service::ChunkService;
using service::FileService;
using service::IdentityService;
using service::MaintenanceService;
using service::RequestContext;
using service::Services;
using service::SharingService;

// Request counters for /metrics. Relaxed atomics: they are statistics, not synchronisation.
struct Metrics {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> errors{0};
  std::atomic<uint64_t> chunks_received{0};
  std::atomic<uint64_t> chunk_bytes_received{0};
  std::atomic<uint64_t> chunks_rejected{0};
  std::atomic<uint64_t> chunks_served{0};
  std::atomic<uint64_t> packs_received{0};
  std::atomic<uint64_t> packs_rejected{0};
  std::atomic<uint64_t> pack_reads{0};
  std::atomic<uint64_t> commits{0};
  std::atomic<uint64_t> rate_limited{0};
};

// The daemon's one set of counters.
Metrics& metrics();

inline void count(std::atomic<uint64_t>& counter, uint64_t n = 1) {
  counter.fetch_add(n, std::memory_order_relaxed);
}

// An error answer, counted.
inline HttpResponse fail(const Error& e) {
  count(metrics().errors);
  return HttpResponse::error(e);
}

// A service call's answer: its value as JSON, `{}` for a call with none, or the error.
template <typename T>
HttpResponse answer(const Result<T>& r) {
  if (!r) return fail(r.error());
  return HttpResponse::json(200, protocol::encode_json(*r));
}
inline HttpResponse answer(const Result<void>& r) {
  if (!r) return fail(r.error());
  return HttpResponse::json(200, "{}");
}
inline HttpResponse answer(HttpResponse r) { return r; }

// Authenticates the caller and meters its token against `limiter` (when given): the request's
// context, or the answer that refuses it.
std::variant<RequestContext, HttpResponse> admit(Services& services, RateLimiter* limiter,
                                                 const HttpRequest& req);

// Runs `body` with the request's context once admit() lets the caller in.
template <typename Body>
HttpResponse authed(Services& services, RateLimiter* limiter, const HttpRequest& req, Body&& body) {
  auto admitted = admit(services, limiter, req);
  if (auto* refused = std::get_if<HttpResponse>(&admitted)) return std::move(*refused);
  return body(std::get<RequestContext>(admitted));
}

// The query parameter `key`, or `fallback` when absent.
std::string query_or(const HttpRequest& req, const char* key, std::string fallback);

// The query parameter `key` as a whole number in [min, max] (`fallback` when absent); a 400
// naming the parameter otherwise.
Result<int64_t> query_number(const HttpRequest& req, const char* key, int64_t fallback,
                             int64_t min = 0, int64_t max = std::numeric_limits<int64_t>::max());

// The service a member function of `Service` belongs to, so that a route names the method alone
// (&FileService::list) and the helper finds its service.
inline IdentityService& role(Services& s, IdentityService*) { return s.identity(); }
inline ChunkService& role(Services& s, ChunkService*) { return s.chunks(); }
inline FileService& role(Services& s, FileService*) { return s.files(); }
inline SharingService& role(Services& s, SharingService*) { return s.sharing(); }
inline MaintenanceService& role(Services& s, MaintenanceService*) { return s.maintenance(); }

template <typename Method>
struct MethodOf;
template <typename R, typename C, typename... A>
struct MethodOf<R (C::*)(A...)> {
  using Service = C;
};
template <typename R, typename C, typename... A>
struct MethodOf<R (C::*)(A...) const> {
  using Service = C;
};

// Calls `call` with `args`: a member function of a service on that service, anything else (a
// lambda taking Services&) on `s`.
template <typename Call, typename... Args>
decltype(auto) call_service(const Call& call, Services& s, Args&&... args) {
  if constexpr (std::is_member_function_pointer_v<Call>) {
    using Service = typename MethodOf<Call>::Service;
    return std::invoke(call, role(s, static_cast<Service*>(nullptr)), std::forward<Args>(args)...);
  } else {
    return std::invoke(call, s, std::forward<Args>(args)...);
  }
}

// Registers routes that act for an authenticated caller through `services`.
class Routes {
 public:
  Routes(Router& router, Services& services, RateLimiter* limiter)
      : router_(router), services_(services), limiter_(limiter) {}

  Router& router() { return router_; }
  Services& services() { return services_; }
  RateLimiter* limiter() { return limiter_; }

  // A route whose body is the JSON of `Request`: `call(services, ctx, request)` returns a
  // Result (answered as JSON) or a ready HttpResponse. A service's member function works as
  // `call` (&FileService::commit).
  template <typename Request, typename Call>
  void json(const char* method, const char* pattern, Call call) {
    add(method, pattern,
        [call](Services& s, const RequestContext& ctx, const HttpRequest& req, const std::string&) {
          auto body = protocol::decode_json<Request>(req.body);
          if (!body) return fail(body.error());
          return answer(call_service(call, s, ctx, *body));
        });
  }

  // A route without a body: `call(services, ctx)` or, when it reads the query or the path's
  // tail, `call(services, ctx, request, tail)`.
  template <typename Call>
  void query(const char* method, const char* pattern, Call call) {
    add(method, pattern,
        [call](Services& s, const RequestContext& ctx, const HttpRequest& req,
               const std::string& tail) {
          if constexpr (std::is_member_function_pointer_v<Call> ||
                        std::is_invocable_v<Call, Services&, const RequestContext&>) {
            return answer(call_service(call, s, ctx));
          } else {
            return answer(std::invoke(call, s, ctx, req, tail));
          }
        });
  }

 private:
  template <typename Handler>
  void add(const char* method, const char* pattern, Handler handler) {
    Services& services = services_;
    RateLimiter* limiter = limiter_;
    router_.add(method, pattern,
                [&services, limiter, handler](const HttpRequest& req, const std::string& tail) {
                  return authed(services, limiter, req, [&](const RequestContext& ctx) {
                    return handler(services, ctx, req, tail);
                  });
                });
  }

  Router& router_;
  Services& services_;
  RateLimiter* limiter_;
};

// The route groups, one file each.
void add_chunk_routes(Routes& routes);    // routes_chunks.cpp: chunks and packs
void add_file_routes(Routes& routes);     // routes_files.cpp: uploads, commit, listings, trash
void add_sharing_routes(Routes& routes);  // routes_sharing.cpp: shares, links, /l/

}  // namespace cairn::api::routes
