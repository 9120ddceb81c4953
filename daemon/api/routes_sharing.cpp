// Sharing routes: folders shared with other users, and links that anyone holding the URL may
// download from.

#include <memory>
#include <string>
#include <utility>

#include "daemon/api/route_kit.h"

namespace cairn::api::routes {
namespace {

// A link's download: a file's bytes or a folder as tar, named for the browser that saves it.
HttpResponse link_answer(std::unique_ptr<service::LinkStream> stream) {
  HttpResponse r;
  r.content_type = stream->is_tar() ? "application/x-tar" : "application/octet-stream";
  std::string name = stream->filename();
  for (auto& c : name) {
    if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) c = '_';
  }
  r.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + name + "\"");
  r.source_size = stream->size();
  struct Source final : BodySource {
    explicit Source(std::unique_ptr<service::LinkStream> s) : stream(std::move(s)) {}
    Result<ByteView> next() override { return stream->next(); }
    std::unique_ptr<service::LinkStream> stream;
  };
  r.source = std::make_shared<Source>(std::move(stream));
  return r;
}

}  // namespace

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

  // A link: no token, the URL is the authority. Nothing but "not found" for a dead one.
  Services& services = routes.services();
  routes.router().add("GET", "/l/*", [&services](const HttpRequest&, const std::string& token) {
    count(metrics().requests);
    auto stream = services.sharing().open_link(token);
    if (!stream) return fail(stream.error());
    return link_answer(std::move(*stream));
  });
}

}  // namespace cairn::api::routes
