#include "daemon/web/web_http.h"

#include <algorithm>
#include <charconv>

#include "common/hash.h"
#include "daemon/web/html.h"

namespace cairn::web {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<uint64_t> number(std::string_view s) {
  uint64_t n = 0;
  if (s.empty()) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return n;
}

// The host[:port] an Origin ("https://host:port") names; empty if it is not one.
std::string_view origin_host(std::string_view origin) {
  const size_t scheme = origin.find("://");
  if (scheme == std::string_view::npos) return {};
  std::string_view host = origin.substr(scheme + 3);
  if (host.empty() || host.find('/') != std::string_view::npos) return {};
  return host;
}

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

}  // namespace

std::optional<std::string> cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const size_t end = header.find(';');
    std::string_view pair = trim(header.substr(0, end));
    header = end == std::string_view::npos ? std::string_view() : header.substr(end + 1);
    const size_t eq = pair.find('=');
    if (eq == std::string_view::npos || trim(pair.substr(0, eq)) != name) continue;
    std::string_view value = trim(pair.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    return std::string(value);
  }
  return std::nullopt;
}

std::string session_cookie(std::string_view secret, int64_t max_age, bool secure) {
  std::string out =
      std::string(kSessionCookie) + "=" + std::string(secret) +
      "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" + std::to_string(max_age > 0 ? max_age : 0);
  if (secure) out += "; Secure";
  return out;
}

bool over_tls(const api::HttpRequest& req, bool daemon_tls) {
  return daemon_tls || iequal(trim(req.forwarded_proto), "https");
}

std::string csrf_token(std::string_view session_secret) {
  static constexpr std::string_view kLabel = "cairn web csrf v1";
  return hmac_sha256(as_bytes(session_secret), as_bytes(kLabel)).hex();
}

bool csrf_token_ok(std::string_view session_secret, std::string_view presented) {
  const std::string expected = csrf_token(session_secret);
  return presented.size() == expected.size() &&
         constant_time_equal(as_bytes(expected), as_bytes(presented));
}

bool same_origin(const api::HttpRequest& req) {
  if (!req.origin.empty()) {
    const std::string_view host = origin_host(req.origin);
    return !host.empty() && iequal(host, req.host);
  }
  return req.fetch_site.empty() || req.fetch_site == "same-origin";
}

std::map<std::string, std::string> parse_form(std::string_view body) {
  return api::parse_query(body);
}

void add_security_headers(api::HttpResponse& res, bool sandbox) {
  if (sandbox) {
    res.headers.emplace_back("Content-Security-Policy",
                             "sandbox; default-src 'none'; img-src 'self' data:; style-src "
                             "'unsafe-inline'; frame-ancestors 'none'");
  } else {
    res.headers.emplace_back("Content-Security-Policy",
                             "default-src 'none'; script-src 'self'; style-src 'self'; img-src "
                             "'self'; connect-src 'self'; form-action 'self'; frame-ancestors "
                             "'none'; base-uri 'none'");
  }
  res.headers.emplace_back("X-Frame-Options", "DENY");
  res.headers.emplace_back("X-Content-Type-Options", "nosniff");
  // Referrers only within the page (a link's URL is its secret); "no-referrer" would also make
  // the browser send "Origin: null" with the page's own forms.
  res.headers.emplace_back("Referrer-Policy", "same-origin");
  res.headers.emplace_back("Cross-Origin-Opener-Policy", "same-origin");
  res.headers.emplace_back("Cross-Origin-Resource-Policy", "same-origin");
  res.headers.emplace_back("Cache-Control", "no-store");
}

RangeRequest parse_range(std::string_view header, uint64_t size) {
  RangeRequest whole;
  header = trim(header);
  constexpr std::string_view kBytes = "bytes=";
  if (header.substr(0, kBytes.size()) != kBytes) return whole;
  const std::string_view spec = trim(header.substr(kBytes.size()));
  if (spec.find(',') != std::string_view::npos) return whole;
  const size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return whole;
  const std::string_view first_text = trim(spec.substr(0, dash));
  const std::string_view last_text = trim(spec.substr(dash + 1));
  const auto first = number(first_text);
  const auto last = number(last_text);
  if ((!first && !first_text.empty()) || (!last && !last_text.empty())) return whole;
  RangeRequest out;
  out.kind = RangeRequest::kPart;
  if (!first) {
    // "-N": the last N bytes.
    if (!last) return whole;
    if (*last == 0) return {RangeRequest::kUnsatisfiable, 0, 0};
    out.begin = *last >= size ? 0 : size - *last;
    out.end = size;
  } else {
    if (last && *last < *first) return whole;  // Malformed: ignored, as RFC 9110 allows.
    if (*first >= size) return {RangeRequest::kUnsatisfiable, 0, 0};
    out.begin = *first;
    out.end = last && *last < size ? *last + 1 : size;
  }
  return out;
}

std::string content_disposition(std::string_view kind, std::string_view name) {
  std::string ascii;
  for (char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    ascii += (c < 0x20 || c >= 0x7F || c == '"' || c == '\\' || c == '/' || c == ';') ? '_' : ch;
  }
  return std::string(kind) + "; filename=\"" + ascii + "\"; filename*=UTF-8''" +
         url_query_value(name);
}

bool safe_return_path(std::string_view target) {
  if (!target.starts_with("/web/") || target.size() > 2048) return false;
  for (std::string_view own : {"/web/signin", "/web/signout", "/web/static/", "/web/upload/"}) {
    if (target.starts_with(own)) return false;
  }
  return std::all_of(target.begin(), target.end(),
                     [](char c) { return c > 0x20 && c < 0x7f && c != '\\'; });
}

api::HttpResponse redirect(std::string location) {
  api::HttpResponse res;
  res.status = 303;
  res.content_type = "text/plain; charset=utf-8";
  res.headers.emplace_back("Location", std::move(location));
  add_security_headers(res);
  return res;
}

}  // namespace cairn::web
