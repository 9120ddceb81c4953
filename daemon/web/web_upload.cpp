// The web page's upload routes (web_upload.h).

#include "daemon/web/web_upload.h"

#include <memory>
#include <string>
#include <utility>

#include "common/protocol/protocol.h"
#include "daemon/api/handlers.h"
#include "daemon/service/services.h"
#include "daemon/web/web_http.h"

namespace cairn::web {
namespace {

using api::HttpRequest;
using api::HttpResponse;
using service::RequestContext;
using service::Services;

// The caller of a request the page's script makes: the session behind the cookie, from the
// page's own origin, carrying the session's CSRF token in X-Cairn-CSRF. A cross-site page can
// make the browser send the cookie, but cannot read the token to send with it.
Result<RequestContext> script_caller(Services& s, const HttpRequest& req) {
  const auto secret = cookie_value(req.cookie, kSessionCookie);
  if (!secret) return make_error(ErrorCode::kUnauthenticated, "sign in first");
  CAIRN_ASSIGN_OR_RETURN(auto user, s.identity().web_session_user(*secret));
  req.caller = user.name;
  if (!same_origin(req) || !csrf_token_ok(*secret, req.csrf)) {
    return make_error(ErrorCode::kPermissionDenied,
                      "this request came from elsewhere, or from a page older than the session: "
                      "reload the page and try again");
  }
  return RequestContext{std::move(user), "web", s.now(), s.now_ms()};
}

HttpResponse json_answer(std::string body) {
  HttpResponse res = HttpResponse::json(200, std::move(body));
  add_security_headers(res);
  return res;
}

HttpResponse json_error(const Error& e) {
  HttpResponse res = HttpResponse::error(e);
  add_security_headers(res);
  return res;
}

// Which of the chunks the server lacks, without their grants: the page sends them through this
// daemon (PUT /web/upload/chunks/), never to the grants' URLs, which may be a bucket's on another
// origin that the page's Content-Security-Policy (and the bucket's CORS rules) keep it from.
HttpResponse check(Services& s, const HttpRequest& req) {
  auto ctx = script_caller(s, req);
  if (!ctx) return json_error(ctx.error());
  auto body = protocol::decode_json<protocol::CheckChunksRequest>(req.body);
  if (!body) return json_error(body.error());
  auto checked = s.chunks().check_chunks(*ctx, *body);
  if (!checked) return json_error(checked.error());
  for (auto& m : checked->missing) {
    m.url.clear();
    m.headers.clear();
  }
  return json_answer(protocol::encode_json(*checked));
}

// One file, committed from chunks the caller now holds: a CommitRequest of exactly one put that
// carries its file (no upload session, no symlink), made on the device "web".
HttpResponse commit(Services& s, const HttpRequest& req) {
  auto ctx = script_caller(s, req);
  if (!ctx) return json_error(ctx.error());
  auto body = protocol::decode_json<protocol::CommitRequest>(req.body);
  if (!body) return json_error(body.error());
  if (body->ops.size() != 1 || body->ops[0].kind != protocol::OpKind::kPut || !body->ops[0].file ||
      body->ops[0].file->kind != protocol::NodeKind::kFile) {
    return json_error(Error(ErrorCode::kInvalidArgument,
                            "the page commits one file at a time: one put op with its file"));
  }
  body->device = "web";
  body->cursor = std::nullopt;
  auto done = s.files().commit(*ctx, *body);
  if (!done) return json_error(done.error());
  return json_answer(protocol::encode_json(*done));
}

}  // namespace

void add_upload_routes(api::Router& router, Services& services) {
  router.add("POST", "/web/upload/check", [&services](const HttpRequest& req, const std::string&) {
    return check(services, req);
  });
  router.add("POST", "/web/upload/commit", [&services](const HttpRequest& req, const std::string&) {
    return commit(services, req);
  });
  // Chunk bytes: streamed into the blob store, verified against the hash and recorded for the
  // session's user exactly as a PUT to a signed chunk URL is.
  router.add_streaming(
      "PUT", "/web/upload/chunks/*",
      [&services](const HttpRequest& req,
                  const std::string& hex) -> Result<std::unique_ptr<api::BodySink>> {
        CAIRN_ASSIGN_OR_RETURN(auto ctx, script_caller(services, req));
        CAIRN_ASSIGN_OR_RETURN(auto grant, services.chunks().session_chunk_put(
                                               ctx, hex, req.content_length.value_or(0)));
        return api::begin_chunk_upload(services, req, grant);
      });
}

}  // namespace cairn::web
