// The daemon's HTTP surface below the transport: a synthetic request goes through the same
// router and handlers `cairnd serve` runs, over a real SQLite store and blob folder. Covers the
// paths, queries, cursors, link tokens and JSON bodies of every /v1 route.
//
// Input: "METHOD TARGET\nAUTH\nBODY". AUTH is "alice" (the owner of /docs), "bob" (a viewer of
// it), "alice-web" or "bob-web" (their web page's session cookie and CSRF header), "browser"
// (no credentials, Accept: text/html, as a link's visitor), "none", or sent as the Authorization
// header as written. In TARGET and BODY, "{link}" is a live link token
// to /docs, "{cursor}" a change-feed cursor of alice's and "{csrf}" the web session's CSRF token,
// so that mutations start from real ones. Checked for every request:
// - the answer is a status of 100-599, never 500: bad input is the client's error (4xx);
// - an error from the API (/v1, /l, the page's script routes /web/upload) is the protocol's JSON
//   error body; an error from a web page is an HTML page with the security headers, and no page
//   ever carries the marker "<cairn-fuzz" as markup (names and paths are escaped; /docs holds a
//   folder named with it); a browser is told that a link is missing by a page;
// - what bob sends never changes alice's tree.

#include <unistd.h>

#include <filesystem>
#include <memory>

#include "common/protocol/protocol.h"
#include "daemon/api/handlers.h"
#include "daemon/service/services.h"
#include "daemon/store/local_blob_store.h"
#include "daemon/store/sql_metadata_store.h"
#include "daemon/web/web_http.h"
#include "daemon/web/web_routes.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using namespace cairn;

void replace_all(std::string& text, std::string_view from, std::string_view to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

struct Daemon {
  std::string dir;
  service::SystemClock clock;
  std::unique_ptr<store::MetadataStore> metadata;
  std::unique_ptr<store::LocalBlobStore> blobs;
  std::unique_ptr<service::Services> services;
  api::Router router;
  std::string alice;
  std::string bob;
  std::string alice_token;
  std::string bob_token;
  std::string link;
  std::string cursor;

  Daemon() {
    char name[] = "/tmp/cairn-fuzz-router-XXXXXX";
    FUZZ_CHECK(::mkdtemp(name) != nullptr);
    dir = name;
    metadata = std::move(store::open_metadata_store(dir + "/metadata.db", true).value());
    blobs = std::move(store::LocalBlobStore::open(dir + "/blobs").value());
    services = std::make_unique<service::Services>(*metadata, *blobs, service::ServiceConfig{},
                                                   Bytes(32, std::byte{7}), clock);
    api::register_routes(router, *services);
    web::add_web_routes(router, *services, {});
    alice_token = services->identity().add_user("alice")->second;
    bob_token = services->identity().add_user("bob")->second;
    alice = "Bearer " + alice_token;
    bob = "Bearer " + bob_token;
    // Something to read, share and link to.
    expect_ok(call("POST", "/v1/commit", alice,
                   R"({"device":"fuzz","ops":[{"op":"mkdir","path":"/docs/sub"},)"
                   R"({"op":"mkdir","path":"/private"},)"
                   R"({"op":"mkdir","path":"/docs/<cairn-fuzz q='1'>&amp;"}]})"));
    expect_ok(
        call("POST", "/v1/shares", alice, R"({"path":"/docs","user":"bob","role":"viewer"})"));
    const auto made = call("POST", "/v1/links", alice, R"({"path":"/docs"})");
    expect_ok(made);
    auto info = protocol::decode_json<protocol::LinkInfo>(made.body);
    FUZZ_CHECK(info.has_value() && info->url.starts_with("/l/"));
    link = info->url.substr(3);
    const auto changes = call("GET", "/v1/changes", alice, "");
    expect_ok(changes);
    cursor = protocol::decode_json<protocol::ChangesResponse>(changes.body).value().cursor;
  }

  ~Daemon() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  static void expect_ok(const api::HttpResponse& r) {
    if (r.status != 200) std::fprintf(stderr, "setup: %d %s\n", r.status, r.body.c_str());
    FUZZ_CHECK(r.status == 200);
  }

  // The cookie of a live web session for `token`'s user (a new one if an input signed out).
  std::string web_session(const std::string& token, std::string& kept) {
    if (kept.empty() || !services->identity().web_session_user(kept)) {
      auto started = services->identity().start_web_session(token);
      FUZZ_CHECK(started.has_value());
      kept = started->secret;
    }
    return kept;
  }
  std::string alice_web;
  std::string bob_web;

  // One request, as daemon/http/session.h hands it over, answered in full. `session` is the
  // web session cookie's value, if any.
  api::HttpResponse call(const std::string& method, std::string target,
                         const std::string& authorization, std::string body,
                         const std::string& session = "", bool browser = false) {
    api::HttpRequest req;
    req.method = method;
    req.set_target(std::move(target));
    req.authorization = authorization;
    if (browser) req.accept = "text/html,application/xhtml+xml,*/*;q=0.8";
    if (!session.empty()) {
      req.cookie = std::string(web::kSessionCookie) + "=" + session;
      req.csrf = web::csrf_token(session);
    }
    req.device = "fuzz";
    req.content_length = body.size();
    const auto match = router.match(req.method, req.path);
    api::HttpResponse r;
    if (match.sink != nullptr) {
      auto sink = (*match.sink)(req, match.param);
      if (!sink) return api::HttpResponse::error(sink.error());
      auto wrote = (*sink)->write(fuzz::bytes_of(body));
      if (!wrote) return api::HttpResponse::error(wrote.error());
      r = (*sink)->finish();
    } else if (match.handler != nullptr) {
      if (!body.empty() && router.gate(req.path)) {
        auto admitted = router.gate(req.path)(req);
        if (!admitted) return api::HttpResponse::error(admitted.error());
      }
      req.body = std::move(body);
      r = (*match.handler)(req, match.param);
    } else {
      return api::HttpResponse::error(404, "not_found", "no such endpoint");
    }
    if (r.source) {
      // Read the streamed body to its end (or its error), as the connection would.
      for (int pieces = 0; pieces < 4096; ++pieces) {
        auto piece = r.source->next();
        if (!piece || piece->empty()) break;
      }
    }
    return r;
  }

  std::string alice_tree() {
    const auto r = call("GET", "/v1/list?path=/&recursive=1", alice, "");
    expect_ok(r);
    return r.body;
  }
};

Daemon& daemon_once() {
  static Daemon d;
  return d;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Daemon& d = daemon_once();
  fuzz::Input in(data, size);
  const std::string_view request_line = in.line();
  const size_t space = request_line.find(' ');
  if (space == std::string_view::npos) return 0;
  const std::string method(request_line.substr(0, space));
  std::string target(request_line.substr(space + 1));
  const std::string_view who = in.line();
  std::string body(in.rest());
  const std::string session = who == "alice-web" ? d.web_session(d.alice_token, d.alice_web)
                              : who == "bob-web" ? d.web_session(d.bob_token, d.bob_web)
                                                 : std::string();
  for (std::string* text : {&target, &body}) {
    replace_all(*text, "{link}", d.link);
    replace_all(*text, "{cursor}", d.cursor);
    replace_all(*text, "{csrf}", session.empty() ? std::string() : web::csrf_token(session));
  }
  const bool browser = who == "browser";
  const std::string authorization = who == "alice" ? d.alice
                                    : who == "bob" ? d.bob
                                    : who == "none" || browser || !session.empty()
                                        ? std::string()
                                        : std::string(who);
  const bool watch = who.starts_with("bob") && method != "GET" && method != "HEAD";
  const std::string before = watch ? d.alice_tree() : std::string();
  const std::string path = target.substr(0, target.find('?'));
  // A page route's errors are pages; a URL no route matches gets the API's JSON 404.
  const bool routed = d.router.match(method, path).handler != nullptr;
  const bool page = path.starts_with("/web/") && !path.starts_with("/web/upload/") && routed;

  const api::HttpResponse r =
      d.call(method, std::move(target), authorization, std::move(body), session, browser);
  if (r.status == 500) std::fprintf(stderr, "500: %s\n", r.body.c_str());
  FUZZ_CHECK(r.status >= 100 && r.status < 600 && r.status != 500);
  if (r.content_type.starts_with("text/html")) {
    FUZZ_CHECK(r.body.find("<cairn-fuzz") == std::string::npos);
    const auto has = [&r](std::string_view name) {
      for (const auto& [key, value] : r.headers) {
        if (key == name) return true;
      }
      return false;
    };
    FUZZ_CHECK(has("Content-Security-Policy") && has("X-Content-Type-Options"));
  }
  const bool missing_link = browser && routed && path.starts_with("/l/") && r.status == 404;
  if (r.status >= 400 && (page || missing_link)) {
    FUZZ_CHECK(r.content_type == "text/html; charset=utf-8");
  } else if (r.status >= 400) {
    FUZZ_CHECK(r.content_type == "application/json");
    auto error = protocol::decode_json<protocol::ErrorBody>(r.body);
    FUZZ_CHECK(error.has_value());
  }
  if (watch) FUZZ_CHECK(d.alice_tree() == before);
  return 0;
}
