#pragma once

#include "daemon/api/router.h"

namespace cairn::service {
class Services;
}

namespace cairn::api {

// Registers every /v1 route, /healthz and /metrics on `router`. Handlers parse and authenticate,
// call one service method, and turn its Result into a response. `services` must outlive the
// router.
void register_routes(Router& router, service::Services& services);

}  // namespace cairn::api
