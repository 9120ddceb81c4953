#pragma once

#include "daemon/api/router.h"

namespace cairn::service {
class Services;
class Notifier;
struct ChunkPutGrant;
}  // namespace cairn::service

namespace cairn::api {

class RateLimiter;

// Who may read /metrics: a request from a loopback address that no proxy relayed (no
// X-Forwarded-For or Forwarded header), or one that bears `token` when it is set (cairnd serve
// --metrics-token-file). Everyone else gets 403.
struct MetricsAccess {
  std::string token;
};

// Registers every /v1 route, /healthz and /metrics on `router`. Handlers parse and authenticate,
// call one service method, and turn its Result into a response. `services` (and `limiter`, which
// meters each token's authenticated requests, and `notifier`, which serves /v1/notify, when
// given) must outlive the router.
void register_routes(Router& router, service::Services& services, RateLimiter* limiter = nullptr,
                     service::Notifier* notifier = nullptr, MetricsAccess metrics_access = {});

// Whether `req` may read /metrics under `access`.
bool may_read_metrics(const HttpRequest& req, const MetricsAccess& access);

// A chunk upload of `grant` whose body `req` carries (Content-Length must be the grant's size):
// streamed into the blob store, verified and recorded when it ends, as a PUT to a signed chunk
// URL is. For routes that authorise a chunk otherwise (the web page's session).
Result<std::unique_ptr<BodySink>> begin_chunk_upload(service::Services& services,
                                                     const HttpRequest& req,
                                                     const service::ChunkPutGrant& grant);

}  // namespace cairn::api
