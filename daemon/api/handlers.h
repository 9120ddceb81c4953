#pragma once

#include "daemon/api/router.h"

namespace cairn::service {
class Services;
class Notifier;
}  // namespace cairn::service

namespace cairn::api {

class RateLimiter;

// Registers every /v1 route, /healthz and /metrics on `router`. Handlers parse and authenticate,
// call one service method, and turn its Result into a response. `services` (and `limiter`, which
// meters each token's authenticated requests, and `notifier`, which serves /v1/notify, when
// given) must outlive the router.
void register_routes(Router& router, service::Services& services, RateLimiter* limiter = nullptr,
                     service::Notifier* notifier = nullptr);

}  // namespace cairn::api
