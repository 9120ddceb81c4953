#pragma once

// The web page (docs/web.md): server-rendered HTML under /web/, signed in with a session cookie,
// on the daemon's own port. Every action goes through the same services, and the same checks,
// as the API.

#include "daemon/api/router.h"

namespace cairn::service {
class Services;
}

namespace cairn::web {

struct WebOptions {
  bool tls = false;  // The daemon serves HTTPS itself: session cookies are Secure.
};

// Registers GET /, /web/... on `router`; `services` must outlive it.
void add_web_routes(api::Router& router, service::Services& services, WebOptions options);

}  // namespace cairn::web
