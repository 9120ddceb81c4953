// The web page's rules, alone: HTML escaping, the session cookie, CSRF, origins, byte ranges and
// file names in headers; what pages show of hostile names; and web sessions and sign-in codes on
// every metadata backend.

#include <gtest/gtest.h>

#include "daemon/web/html.h"
#include "daemon/web/pages.h"
#include "daemon/web/web_http.h"
#include "tests/unit/daemon/metadata_store_fixture.h"

namespace cairn::web {
namespace {

TEST(HtmlTest, EscapesEverythingMarkupCouldBeMadeOf) {
  EXPECT_EQ(escape("<script>alert('x')</script>"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;");
  EXPECT_EQ(escape("a & \"b\""), "a &amp; &quot;b&quot;");
  EXPECT_EQ(escape("tab\there\nline"), "tab\there\nline");
  EXPECT_EQ(escape(std::string("nul\0bell\a", 9)),
            "nul\xEF\xBF\xBD"
            "bell\xEF\xBF\xBD");
  EXPECT_EQ(escape("caf\xC3\xA9"), "caf\xC3\xA9");  // UTF-8 passes as it is.
}

TEST(HtmlTest, PathsInUrlsAreEncodedByteByByte) {
  EXPECT_EQ(url_path("/docs/a b/c.txt"), "/docs/a%20b/c.txt");
  EXPECT_EQ(url_path("/\"><script>"), "/%22%3E%3Cscript%3E");
  EXPECT_EQ(url_path("/100%/?#&"), "/100%25/%3F%23%26");
  EXPECT_EQ(url_query_value("a/b c"), "a%2Fb%20c");
}

TEST(HtmlTest, SizesAndTimesForPeople) {
  EXPECT_EQ(human_size(0), "0 B");
  EXPECT_EQ(human_size(1023), "1023 B");
  EXPECT_EQ(human_size(1536), "1.5 KiB");
  EXPECT_EQ(human_size(50ull << 20), "50 MiB");
  EXPECT_EQ(format_time(0), "");
  EXPECT_EQ(format_time(1'800'000'000), "2027-01-15 08:00 UTC");
}

TEST(WebHttpTest, CookiesAreFoundByNameOnly) {
  EXPECT_EQ(cookie_value("a=1; cairn_session=abc; b=2", "cairn_session"), "abc");
  EXPECT_EQ(cookie_value("cairn_session=\"q\"", "cairn_session"), "q");
  EXPECT_FALSE(cookie_value("xcairn_session=abc", "cairn_session").has_value());
  EXPECT_FALSE(cookie_value("", "cairn_session").has_value());
  EXPECT_FALSE(cookie_value("cairn_session", "cairn_session").has_value());
}

TEST(WebHttpTest, TheSessionCookieIsHttpOnlyStrictAndSecureUnderTls) {
  const std::string plain = session_cookie("s3cret", 3600, false);
  EXPECT_NE(plain.find("cairn_session=s3cret"), std::string::npos);
  EXPECT_NE(plain.find("HttpOnly"), std::string::npos);
  EXPECT_NE(plain.find("SameSite=Strict"), std::string::npos);
  EXPECT_NE(plain.find("Max-Age=3600"), std::string::npos);
  EXPECT_NE(plain.find("Path=/"), std::string::npos);
  EXPECT_EQ(plain.find("Secure"), std::string::npos);
  EXPECT_NE(session_cookie("s3cret", 3600, true).find("; Secure"), std::string::npos);
  EXPECT_NE(session_cookie("", 0, false).find("Max-Age=0"), std::string::npos);
  EXPECT_NE(session_cookie("", -5, false).find("Max-Age=0"), std::string::npos);

  api::HttpRequest req;
  EXPECT_FALSE(over_tls(req, false));
  EXPECT_TRUE(over_tls(req, true));
  req.forwarded_proto = "HTTPS";
  EXPECT_TRUE(over_tls(req, false));
}

TEST(WebHttpTest, CsrfTokensBelongToOneSession) {
  const std::string a = csrf_token("cairn_session_a");
  EXPECT_EQ(a, csrf_token("cairn_session_a"));
  EXPECT_NE(a, csrf_token("cairn_session_b"));
  EXPECT_EQ(a.size(), 64u);
  EXPECT_TRUE(csrf_token_ok("cairn_session_a", a));
  EXPECT_FALSE(csrf_token_ok("cairn_session_b", a));
  EXPECT_FALSE(csrf_token_ok("cairn_session_a", ""));
  EXPECT_FALSE(csrf_token_ok("cairn_session_a", a.substr(0, 63)));
  std::string flipped = a;
  flipped[10] = flipped[10] == '0' ? '1' : '0';
  EXPECT_FALSE(csrf_token_ok("cairn_session_a", flipped));
}

TEST(WebHttpTest, OnlyThePagesOwnOriginMayPost) {
  api::HttpRequest req;
  req.host = "files.example.com:8443";
  req.origin = "https://files.example.com:8443";
  EXPECT_TRUE(same_origin(req));
  req.origin = "https://evil.example:8443";
  EXPECT_FALSE(same_origin(req));
  req.origin = "null";  // A sandboxed frame or a file:// page.
  EXPECT_FALSE(same_origin(req));
  req.origin = "https://files.example.com:8443/path";
  EXPECT_FALSE(same_origin(req));
  req.origin.clear();
  req.fetch_site = "cross-site";
  EXPECT_FALSE(same_origin(req));
  req.fetch_site = "same-origin";
  EXPECT_TRUE(same_origin(req));
  req.fetch_site.clear();  // Not a browser: curl, a script.
  EXPECT_TRUE(same_origin(req));
}

TEST(WebHttpTest, ASignInGoesOnOnlyToThePagesOwnPages) {
  EXPECT_TRUE(safe_return_path("/web/files/docs/"));
  EXPECT_TRUE(safe_return_path("/web/files/a%20b/c.txt?sort=size&order=desc"));
  EXPECT_TRUE(safe_return_path("/web/trash"));
  EXPECT_TRUE(safe_return_path("/web/download/docs/?format=zip"));
  // Another site, however it is spelled.
  EXPECT_FALSE(safe_return_path("https://evil.example/web/files/"));
  EXPECT_FALSE(safe_return_path("//evil.example/web/files/"));
  EXPECT_FALSE(safe_return_path("/\\evil.example/web/"));
  EXPECT_FALSE(safe_return_path("/web/files/\\evil"));
  EXPECT_FALSE(safe_return_path("javascript:alert(1)"));
  // Header injection and what is not a page.
  EXPECT_FALSE(safe_return_path("/web/files/\r\nSet-Cookie: x=1"));
  EXPECT_FALSE(safe_return_path("/web/files/a b"));
  EXPECT_FALSE(safe_return_path("/web/signin?next=/web/files/"));
  EXPECT_FALSE(safe_return_path("/web/signout"));
  EXPECT_FALSE(safe_return_path("/web/static/app.js"));
  EXPECT_FALSE(safe_return_path("/v1/whoami"));
  EXPECT_FALSE(safe_return_path(""));
  EXPECT_FALSE(safe_return_path("/web/files/" + std::string(2100, 'a')));
}

TEST(WebHttpTest, RangesAreOnePartOrTheWhole) {
  auto r = parse_range("bytes=0-99", 1000);
  EXPECT_EQ(r.kind, RangeRequest::kPart);
  EXPECT_EQ(r.begin, 0u);
  EXPECT_EQ(r.end, 100u);
  r = parse_range("bytes=990-", 1000);
  EXPECT_EQ(r.kind, RangeRequest::kPart);
  EXPECT_EQ(r.begin, 990u);
  EXPECT_EQ(r.end, 1000u);
  r = parse_range("bytes=-10", 1000);
  EXPECT_EQ(r.begin, 990u);
  EXPECT_EQ(r.end, 1000u);
  r = parse_range("bytes=-5000", 1000);
  EXPECT_EQ(r.begin, 0u);
  r = parse_range("bytes=500-99999", 1000);
  EXPECT_EQ(r.end, 1000u);
  EXPECT_EQ(parse_range("bytes=1000-", 1000).kind, RangeRequest::kUnsatisfiable);
  EXPECT_EQ(parse_range("bytes=-0", 1000).kind, RangeRequest::kUnsatisfiable);
  EXPECT_EQ(parse_range("", 1000).kind, RangeRequest::kWhole);
  EXPECT_EQ(parse_range("bytes=0-1,5-6", 1000).kind, RangeRequest::kWhole);
  EXPECT_EQ(parse_range("items=0-1", 1000).kind, RangeRequest::kWhole);
  EXPECT_EQ(parse_range("bytes=9-3", 1000).kind, RangeRequest::kWhole);
  EXPECT_EQ(parse_range("bytes=x-3", 1000).kind, RangeRequest::kWhole);
  EXPECT_EQ(parse_range("bytes=0-", 0).kind, RangeRequest::kUnsatisfiable);
}

TEST(WebHttpTest, FileNamesInHeadersCannotBreakOut) {
  EXPECT_EQ(content_disposition("attachment", "report.pdf"),
            "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf");
  const std::string hostile = content_disposition("attachment", "a\";\r\nSet-Cookie: x=1.txt");
  EXPECT_EQ(hostile.find('\r'), std::string::npos);
  EXPECT_EQ(hostile.find('\n'), std::string::npos);
  EXPECT_EQ(hostile.find("\";"), hostile.find("\"; filename*"));
  EXPECT_NE(content_disposition("inline", "caf\xC3\xA9.txt").find("filename*=UTF-8''caf%C3%A9.txt"),
            std::string::npos);
}

TEST(WebHttpTest, PagesCarryAStrictPolicy) {
  api::HttpResponse page;
  add_security_headers(page);
  std::map<std::string, std::string> h(page.headers.begin(), page.headers.end());
  EXPECT_NE(h["Content-Security-Policy"].find("default-src 'none'"), std::string::npos);
  EXPECT_NE(h["Content-Security-Policy"].find("frame-ancestors 'none'"), std::string::npos);
  EXPECT_EQ(h["Content-Security-Policy"].find("unsafe"), std::string::npos);
  EXPECT_EQ(h["X-Frame-Options"], "DENY");
  EXPECT_EQ(h["X-Content-Type-Options"], "nosniff");
  api::HttpResponse content;
  add_security_headers(content, true);
  std::map<std::string, std::string> c(content.headers.begin(), content.headers.end());
  EXPECT_EQ(c["Content-Security-Policy"].rfind("sandbox;", 0), 0u);
  EXPECT_EQ(c["Content-Security-Policy"].find("script"), std::string::npos);
}

TEST(PagesTest, HostileNamesAreShownAsText) {
  const std::string evil = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>";
  FolderView view;
  view.listing.path = "/";
  protocol::Entry file;
  file.path = "/" + evil + ".txt";
  file.size = 5;
  view.listing.entries.push_back(file);
  view.listing.attributions.push_back({"<b>mallory</b>", "<i>laptop</i>"});
  Viewer viewer{"alice", "tok"};
  const std::string page = layout(viewer, evil, folder_body(viewer, view));
  EXPECT_EQ(page.find("<script>alert"), std::string::npos);
  EXPECT_EQ(page.find("<img src=x"), std::string::npos);
  EXPECT_EQ(page.find("<b>mallory"), std::string::npos);
  EXPECT_NE(page.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(page.find("%3Cscript%3E"), std::string::npos);  // In the link's URL.
  EXPECT_NE(page.find("&lt;b&gt;mallory&lt;/b&gt;"), std::string::npos);

  FileView fv;
  fv.entry = file;
  fv.preview = FileView::Preview::kText;
  fv.text = "</pre><script>steal()</script>";
  fv.writable = true;
  fv.history.versions.push_back({1, protocol::NodeKind::kFile, 5, 0644, 0, "", "", evil, evil, 1});
  const std::string shown = file_body(viewer, fv);
  EXPECT_EQ(shown.find("<script>"), std::string::npos);
  EXPECT_NE(shown.find("&lt;/pre&gt;&lt;script&gt;steal()"), std::string::npos);
}

TEST(PagesTest, TheSignInFormCarriesWhereItGoesNextEscaped) {
  SignInView view;
  view.next = "/web/files/\"><script>x()</script>";
  const std::string page = signin_body(view);
  EXPECT_EQ(page.find("<script>"), std::string::npos);
  EXPECT_NE(page.find("name=\"next\" value=\"/web/files/&quot;&gt;&lt;script&gt;"),
            std::string::npos);
  EXPECT_EQ(signin_body(SignInView{}).find("name=\"next\""), std::string::npos);
}

TEST(PagesTest, ALinksLandingPageSaysUntilWhenItWorks) {
  const std::vector<LinkedItem> items{{"a.txt", protocol::NodeKind::kFile, 5}};
  const std::string lasting = link_landing_body("/l/t", "docs", true, items);
  EXPECT_EQ(lasting.find("available until"), std::string::npos);
  const std::string ending = link_landing_body("/l/t", "docs", true, items, 1'800'000'000);
  EXPECT_NE(ending.find("available until 2027-01-15 08:00 UTC"), std::string::npos);
}

TEST(PagesTest, AViewerSeesNoWriteControls) {
  Viewer viewer{"bob", "tok"};
  FileView fv;
  fv.entry.path = "/Shared/p/a.txt";
  fv.entry.version = 2;
  fv.history.versions.push_back({2, protocol::NodeKind::kFile, 1, 0644, 0, "", "", "a", "d", 2});
  fv.history.versions.push_back({1, protocol::NodeKind::kFile, 1, 0644, 0, "", "", "a", "d", 1});
  fv.writable = false;
  std::string page = file_body(viewer, fv);
  EXPECT_EQ(page.find("/web/restore"), std::string::npos);
  EXPECT_EQ(page.find("/web/delete"), std::string::npos);
  EXPECT_NE(page.find("/web/download"), std::string::npos);
  fv.writable = true;
  page = file_body(viewer, fv);
  EXPECT_NE(page.find("/web/restore"), std::string::npos);
  EXPECT_NE(page.find("name=\"csrf\" value=\"tok\""), std::string::npos);
}

TEST(PagesTest, OnlyAWritableFolderOffersUploadsWithTheServersChunking) {
  Viewer viewer{"alice", "tok\"en"};
  FolderView view;
  view.listing.path = "/docs";
  protocol::Entry file;
  file.node_id = 7;
  file.path = "/docs/a \"b\".txt";
  file.version = 3;
  file.size = 12;
  view.listing.entries.push_back(file);
  view.chunking = ChunkerParams{1024, 4096, 16384};
  view.max_batch = 50;
  EXPECT_EQ(folder_body(viewer, view).find("upload"), std::string::npos);
  view.writable = true;
  const std::string page = folder_body(viewer, view);
  for (const char* attr :
       {"id=\"upload\"", "data-path=\"/docs\"", "data-csrf=\"tok&quot;en\"", "data-min=\"1024\"",
        "data-avg=\"4096\"", "data-max=\"16384\"", "data-batch=\"50\"", "id=\"upload-files\"",
        "src=\"/web/static/upload.js\""}) {
    EXPECT_NE(page.find(attr), std::string::npos) << attr;
  }
  // A listed file tells the script its node and version, so that an upload of the same name
  // becomes its next version; its name is escaped like any other.
  EXPECT_NE(page.find("data-name=\"a &quot;b&quot;.txt\" data-node=\"7\" data-version=\"3\" "
                      "data-size=\"12\""),
            std::string::npos);
}

}  // namespace
}  // namespace cairn::web

namespace cairn::store::conformance {
namespace {

using service::IdentityService;

class WebSessionTest : public MetadataStoreTest {
 protected:
  IdentityService& identity() { return services_->identity(); }
  // A fresh API token of alice's, and the user it authenticates.
  std::pair<std::string, User> api_token(std::optional<int64_t> ttl = std::nullopt,
                                         const TokenScope& scope = {}) {
    auto token = identity().create_token("alice", "t", ttl, scope);
    EXPECT_TRUE(token.has_value());
    auto user = identity().authenticate("Bearer " + *token);
    EXPECT_TRUE(user.has_value());
    return {*token, *user};
  }
};

TEST_P(WebSessionTest, ASessionIsItsOwnKindOfTokenAndEndsWithItsParent) {
  auto [token, user] = api_token();
  auto session = identity().start_web_session(token);
  ASSERT_TRUE(session.has_value()) << session.error().message();
  EXPECT_NE(session->secret, token);
  EXPECT_EQ(session->expires_at, clock_.now + IdentityService::kWebSessionSeconds);
  EXPECT_EQ(session->user.name, "alice");
  EXPECT_TRUE(identity().web_session_user(session->secret).has_value());
  // Neither kind stands in for the other.
  EXPECT_FALSE(identity().authenticate("Bearer " + session->secret).has_value());
  EXPECT_FALSE(identity().web_session_user(token).has_value());
  EXPECT_FALSE(identity().start_web_session(session->secret).has_value());
  EXPECT_FALSE(identity().start_web_session("cairn_" + std::string(64, '0')).has_value());
  EXPECT_FALSE(identity().start_web_session("").has_value());

  // Revoking the token that signed in ends its sessions.
  auto second = identity().start_web_session(token);
  ASSERT_TRUE(second.has_value());
  ASSERT_TRUE(identity().revoke_token("alice", user.token_id));
  EXPECT_FALSE(identity().web_session_user(session->secret).has_value());
  EXPECT_FALSE(identity().web_session_user(second->secret).has_value());
}

TEST_P(WebSessionTest, SigningOutEndsOneSessionOnTheServer) {
  auto [token, user] = api_token();
  auto a = identity().start_web_session(token);
  auto b = identity().start_web_session(token);
  ASSERT_TRUE(a && b);
  auto who = identity().web_session_user(a->secret);
  ASSERT_TRUE(who.has_value());
  ASSERT_TRUE(identity().end_web_session(*who));
  EXPECT_FALSE(identity().web_session_user(a->secret).has_value());
  EXPECT_TRUE(identity().web_session_user(b->secret).has_value());
  EXPECT_TRUE(identity().authenticate("Bearer " + token).has_value());
  EXPECT_FALSE(identity().end_web_session(user).has_value());  // An API token is no session.
}

TEST_P(WebSessionTest, ASessionNeverOutlivesItsTokenAndKeepsItsScope) {
  auto [token, user] = api_token(600, TokenScope{true, "/docs"});
  auto session = identity().start_web_session(token);
  ASSERT_TRUE(session.has_value());
  EXPECT_EQ(session->expires_at, clock_.now + 600);
  EXPECT_TRUE(session->user.scope.read_only);
  EXPECT_EQ(session->user.scope.path, "/docs");
  clock_.now += 601;
  EXPECT_FALSE(identity().web_session_user(session->secret).has_value());
}

TEST_P(WebSessionTest, ASignInCodeWorksOnceAndSoon) {
  auto [token, user] = api_token();
  auto code = identity().create_signin_code(user);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(code->second, clock_.now + IdentityService::kSignInCodeSeconds);
  EXPECT_FALSE(identity().authenticate("Bearer " + code->first).has_value());
  EXPECT_FALSE(identity().web_session_user(code->first).has_value());
  auto who = identity().signin_code_user(code->first);
  ASSERT_TRUE(who.has_value());
  EXPECT_EQ(who->name, "alice");
  auto session = identity().start_web_session(code->first);
  ASSERT_TRUE(session.has_value()) << session.error().message();
  // As long as a session made with the token itself, not the code's five minutes.
  EXPECT_EQ(session->expires_at, clock_.now + IdentityService::kWebSessionSeconds);
  EXPECT_FALSE(identity().start_web_session(code->first).has_value());
  EXPECT_FALSE(identity().signin_code_user(code->first).has_value());
  // The session hangs from the token that made the code, not from the code.
  ASSERT_TRUE(identity().revoke_token("alice", user.token_id));
  EXPECT_FALSE(identity().web_session_user(session->secret).has_value());

  auto [token2, user2] = api_token();
  auto late = identity().create_signin_code(user2);
  ASSERT_TRUE(late.has_value());
  clock_.now += IdentityService::kSignInCodeSeconds + 1;
  EXPECT_FALSE(identity().start_web_session(late->first).has_value());

  // Only an API token makes codes: not a session, not a code.
  auto s2 = identity().start_web_session(token2);
  ASSERT_TRUE(s2.has_value());
  EXPECT_FALSE(identity().create_signin_code(s2->user).has_value());
}

TEST_P(WebSessionTest, AStreamSendsExactlyTheRangeAskedFor) {
  std::string text;
  for (int i = 0; i < 3000; ++i) text += std::to_string(i % 10);
  ASSERT_EQ(put_file("/r.txt", text, std::nullopt).status, protocol::OpStatus::kOk);
  auto listed = services_->files().list(ctx_, "/r.txt");
  ASSERT_TRUE(listed.has_value());
  const auto& e = listed->entries.at(0);
  LinkTarget target;
  target.name = "r.txt";
  target.entries.push_back({"", e.kind, e.size, e.mode, e.mtime_ns, e.manifest, ""});
  auto read = [&](std::optional<std::pair<uint64_t, uint64_t>> range) -> std::string {
    auto stream = services_->sharing().stream(ctx_, target, range);
    EXPECT_TRUE(stream.has_value());
    if (!stream) return "";
    std::string out;
    while (true) {
      auto piece = (*stream)->next();
      EXPECT_TRUE(piece.has_value());
      if (!piece || piece->empty()) break;
      out.append(reinterpret_cast<const char*>(piece->data()), piece->size());
    }
    EXPECT_EQ(out.size(), (*stream)->size());
    return out;
  };
  EXPECT_EQ(read(std::nullopt), text);
  EXPECT_EQ(read(std::make_pair(uint64_t{0}, uint64_t{10})), text.substr(0, 10));
  EXPECT_EQ(read(std::make_pair(uint64_t{1234}, uint64_t{3000})), text.substr(1234));
  EXPECT_EQ(read(std::make_pair(uint64_t{2999}, uint64_t{3000})), text.substr(2999));
  EXPECT_EQ(read(std::make_pair(uint64_t{5}, uint64_t{5})), "");
  EXPECT_FALSE(services_->sharing()
                   .stream(ctx_, target, std::make_pair(uint64_t{0}, uint64_t{3001}))
                   .has_value());
  // Another user reading alice's manifest by naming it gets nothing.
  auto bob = services_->identity().add_user("bob");
  ASSERT_TRUE(bob.has_value());
  service::RequestContext as_bob{bob->first, "d", clock_.now};
  auto stolen = services_->sharing().stream(as_bob, target);
  ASSERT_TRUE(stolen.has_value());              // Opening reads nothing yet...
  EXPECT_FALSE((*stolen)->next().has_value());  // ...and the first read is refused.
}

TEST_P(WebSessionTest, EndedSessionsAndCodesAreForgottenAndLiveOnesStay) {
  auto [token, user] = api_token();
  auto live = identity().start_web_session(token);
  auto out = identity().start_web_session(token);
  auto code = identity().create_signin_code(user);
  auto unused = identity().create_signin_code(user);
  ASSERT_TRUE(live && out && code && unused);
  auto who = identity().web_session_user(out->secret);
  ASSERT_TRUE(who.has_value());
  ASSERT_TRUE(identity().end_web_session(*who));
  auto from_code = identity().start_web_session(code->first);  // The code is used up.
  ASSERT_TRUE(from_code.has_value());
  auto [revoked, revoked_user] = api_token();
  ASSERT_TRUE(identity().revoke_token("alice", revoked_user.token_id));

  // The session signed out and the used code go; the revoked API token stays on record.
  auto forgotten = metadata_->forget_ended_sessions(clock_.now);
  ASSERT_TRUE(forgotten.has_value());
  EXPECT_EQ(*forgotten, 2);
  EXPECT_TRUE(identity().web_session_user(live->secret).has_value());
  EXPECT_TRUE(identity().web_session_user(from_code->secret).has_value());
  EXPECT_TRUE(identity().signin_code_user(unused->first).has_value());
  auto tokens = identity().list_tokens("alice");
  ASSERT_TRUE(tokens.has_value());
  // Alice's first token, two of this test's, two live sessions, the unused code.
  EXPECT_EQ(tokens->size(), 6u);

  // Past their expiry the code, then the sessions, go too; the API tokens never do.
  clock_.now += IdentityService::kSignInCodeSeconds + 1;
  EXPECT_EQ(*metadata_->forget_ended_sessions(clock_.now), 1);
  clock_.now += IdentityService::kWebSessionSeconds;
  EXPECT_EQ(*metadata_->forget_ended_sessions(clock_.now), 2);
  tokens = identity().list_tokens("alice");
  ASSERT_TRUE(tokens.has_value());
  EXPECT_EQ(tokens->size(), 3u);
  EXPECT_TRUE(identity().authenticate("Bearer " + token).has_value());
}

TEST_P(WebSessionTest, APageSendsChunksOnItsSessionWhileTheSessionLives) {
  auto [token, user] = api_token();
  auto session = identity().start_web_session(token);
  ASSERT_TRUE(session.has_value());
  service::RequestContext ctx{session->user, "web", clock_.now};
  auto& chunks = services_->chunks();
  const ByteView body = as_bytes("a chunk from the page");
  const Digest digest = sha256(body);
  auto grant = chunks.session_chunk_put(ctx, digest.hex(), body.size());
  ASSERT_TRUE(grant.has_value()) << grant.error().message();
  EXPECT_EQ(grant->user_id, session->user.user_id);
  EXPECT_EQ(grant->token_id, session->user.token_id);
  // Nonsense is refused before any byte is read.
  EXPECT_FALSE(chunks.session_chunk_put(ctx, "not-a-hash", body.size()).has_value());
  EXPECT_FALSE(chunks.session_chunk_put(ctx, digest.hex(), 0).has_value());
  EXPECT_EQ(chunks.session_chunk_put(ctx, digest.hex(), uint64_t{1} << 40).error().code(),
            ErrorCode::kInvalidArgument);
  auto read_only = api_token(std::nullopt, TokenScope{true, "/"});
  auto viewer = identity().start_web_session(read_only.first);
  ASSERT_TRUE(viewer.has_value());
  EXPECT_EQ(chunks.session_chunk_put({viewer->user, "web", clock_.now}, digest.hex(), body.size())
                .error()
                .code(),
            ErrorCode::kPermissionDenied);

  // Signed out while the bytes were on the way: nothing is recorded.
  auto writer = chunks.begin_chunk_put(*grant);
  ASSERT_TRUE(writer.has_value());
  ASSERT_TRUE((*writer)->write(body).has_value());
  ASSERT_TRUE(identity().end_web_session(session->user));
  EXPECT_FALSE(chunks.finish_chunk_put(*grant, **writer).has_value());
  auto unheld =
      chunks.unheld_chunks(user.user_id, {ChunkRef{digest, static_cast<uint32_t>(body.size())}});
  ASSERT_TRUE(unheld.has_value());
  EXPECT_EQ(unheld->size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(All, WebSessionTest,
                         ::testing::Values(Backend{"Sqlite", ""}, Backend{"Postgres", "postgres"}),
                         backend_name);

}  // namespace
}  // namespace cairn::store::conformance
