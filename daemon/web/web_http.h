#pragma once

// The web page's HTTP rules, kept apart from the pages so that each can be tested alone: the
// session cookie, CSRF protection, security headers, form bodies and byte ranges (docs/web.md).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "daemon/api/http_types.h"

namespace cairn::web {

constexpr std::string_view kSessionCookie = "cairn_session";

// The value of cookie `name` in a Cookie header, if it is there.
std::optional<std::string> cookie_value(std::string_view header, std::string_view name);

// Set-Cookie for a session: HttpOnly, SameSite=Strict, Path=/, Max-Age `max_age` seconds (0
// clears it), Secure when the page is served over TLS.
std::string session_cookie(std::string_view secret, int64_t max_age, bool secure);

// Whether the browser reached the page over TLS: the daemon's own, or a proxy's that says so.
bool over_tls(const api::HttpRequest& req, bool daemon_tls);

// The CSRF token of a session: an HMAC of a fixed label under the session's secret, so that it
// needs no storage, differs per session and cannot be derived without the cookie, which scripts
// of other sites (and the page's own, HttpOnly) cannot read.
std::string csrf_token(std::string_view session_secret);
bool csrf_token_ok(std::string_view session_secret, std::string_view presented);

// Whether a state-changing request comes from the page itself: an Origin naming this host, or
// (no Origin) a Sec-Fetch-Site of same-origin, or neither header (not a browser's cross-site
// request: browsers send Origin with every POST).
bool same_origin(const api::HttpRequest& req);

// A form body (application/x-www-form-urlencoded).
std::map<std::string, std::string> parse_form(std::string_view body);

// Adds what every page and download carries: a strict Content-Security-Policy (no inline script
// or style, nothing from elsewhere, no framing), nosniff, referrers only within the page (a link's
// URL is its secret) and no caching of pages. `sandbox`: user content shown inline runs in an
// opaque origin, with no script at all, even if a browser took it for HTML.
void add_security_headers(api::HttpResponse& res, bool sandbox = false);

// What a Range header ("bytes=A-B", "bytes=A-", "bytes=-N") asks of a body of `size` bytes:
// the whole body (no header, or one this server answers in whole: several ranges, other
// units), one part [begin, end), or nothing it has (416).
struct RangeRequest {
  enum Kind { kWhole, kPart, kUnsatisfiable } kind = kWhole;
  uint64_t begin = 0;
  uint64_t end = 0;  // Exclusive.
};
RangeRequest parse_range(std::string_view header, uint64_t size);

// A Content-Disposition header value that names the file `name` for any browser and curl -J:
// a plain ASCII fallback and the exact name as RFC 5987 filename*.
std::string content_disposition(std::string_view kind, std::string_view name);

// Whether the sign-in page may send the browser on to `target` (a request target as sent: path
// and query, percent-encoded): one of the page's own pages ("/web/...", not sign-in, sign-out or
// an asset), printable ASCII without a backslash, at most 2 KiB. Nothing else, so that a crafted
// sign-in URL cannot send anyone to another site.
bool safe_return_path(std::string_view target);

// A redirect (303 See Other) to `location`, a path of this server.
api::HttpResponse redirect(std::string location);

}  // namespace cairn::web
