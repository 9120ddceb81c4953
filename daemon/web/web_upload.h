#pragma once

// Uploads from the web page (docs/web.md, "Uploading"): the page's script cuts each file into
// chunks exactly as cairn does, hashes them, asks which the server lacks, sends only those and
// commits the file. These routes are the API's check, chunk upload and commit, authorised by
// the session cookie and the CSRF token in X-Cairn-CSRF instead of a bearer token.

#include "daemon/api/router.h"

namespace cairn::service {
class Services;
}

namespace cairn::web {

// Registers POST /web/upload/check, PUT /web/upload/chunks/{hash} and POST /web/upload/commit.
void add_upload_routes(api::Router& router, service::Services& services);

}  // namespace cairn::web
