// Sharing routes: folders shared with other users, links that anyone holding the URL may download
// from (GET /l/TOKEN itself is the web page's: daemon/web/), and sign-in links to the web page.

#include <string>

#include "daemon/api/route_kit.h"

namespace cairn::api::routes {
void add_sharing_routes(Routes& routes) {
  routes.json<protocol::ShareRequest>("POST", "/v1/shares", &SharingService::share);
  routes.query(
      "DELETE", "/v1/shares",
      [](Services& s, const RequestContext& ctx, const HttpRequest& req, const std::string&) {
        return s.sharing().unshare(ctx, query_or(req, "path", ""), query_or(req, "user", ""));
      });
  routes.query(
      "GET", "/v1/shares",
      [](Services& s, const RequestContext& ctx, const HttpRequest& req, const std::string&) {
        return s.sharing().shares(ctx, query_or(req, "path", ""));
      });

  routes.json<protocol::LinkRequest>("POST", "/v1/links", &SharingService::create_link);
  routes.query("GET", "/v1/links", &SharingService::links);
  routes.query("DELETE", "/v1/links",
               [](Services& s, const RequestContext& ctx, const HttpRequest& req,
                  const std::string&) -> HttpResponse {
                 auto id = query_number(req, "id", 0);
                 if (!id) return fail(id.error());
                 return answer(s.sharing().revoke_link(ctx, *id, query_or(req, "token", "")));
               });

  // `cairn web`: a one-time URL that signs its holder in to the web page as the caller.
  routes.query("POST", "/v1/web/signin",
               [](Services& s, const RequestContext& ctx) -> Result<protocol::WebSignInResponse> {
                 CAIRN_ASSIGN_OR_RETURN(auto code, s.identity().create_signin_code(ctx.user));
                 return protocol::WebSignInResponse{"/web/signin?code=" + code.first, code.second};
               });
}

}  // namespace cairn::api::routes
