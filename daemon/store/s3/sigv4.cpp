#include "daemon/store/s3/sigv4.h"

#include <algorithm>
#include <cctype>
#include <ctime>

namespace cairn::store::s3 {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Trims and collapses runs of spaces, as canonical header values require.
std::string trim_value(std::string_view v) {
  std::string out;
  bool space = false;
  for (const char c : v) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

std::string hex_sha256(std::string_view text) { return sha256(as_bytes(text)).hex(); }

std::string credential_scope(std::string_view date, const Scope& scope) {
  return std::string(date) + "/" + scope.region + "/" + scope.service + "/aws4_request";
}

std::string signature(const Credentials& credentials, const Scope& scope,
                      const std::string& timestamp, const std::string& canonical) {
  const std::string date = timestamp.substr(0, 8);
  const std::string to_sign = std::string(kAlgorithm) + "\n" + timestamp + "\n" +
                              credential_scope(date, scope) + "\n" + hex_sha256(canonical);
  const Digest key = signing_key(credentials.secret_access_key, date, scope);
  return hmac_sha256(key.bytes(), as_bytes(to_sign)).hex();
}

}  // namespace

std::string uri_encode(std::string_view text, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~' ||
        (c == '/' && keep_slash)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

std::string amz_date(int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[20];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string canonical_request(const Request& request, std::string* signed_headers) {
  Headers query;
  for (const auto& [k, v] : request.query)
    query.emplace_back(uri_encode(k, false), uri_encode(v, false));
  std::sort(query.begin(), query.end());
  std::string canonical_query;
  for (const auto& [k, v] : query) {
    if (!canonical_query.empty()) canonical_query += '&';
    canonical_query += k + "=" + v;
  }

  Headers headers{{"host", request.host}};
  for (const auto& [k, v] : request.headers) headers.emplace_back(lower(k), trim_value(v));
  std::sort(headers.begin(), headers.end());
  std::string canonical_headers;
  std::string names;
  for (const auto& [k, v] : headers) {
    canonical_headers += k + ":" + v + "\n";
    if (!names.empty()) names += ';';
    names += k;
  }
  if (signed_headers != nullptr) *signed_headers = names;

  return request.method + "\n" + uri_encode(request.path, true) + "\n" + canonical_query + "\n" +
         canonical_headers + "\n" + names + "\n" + request.payload_sha256_hex;
}

Digest signing_key(std::string_view secret, std::string_view yyyymmdd, const Scope& scope) {
  const std::string seed = "AWS4" + std::string(secret);
  const Digest k_date = hmac_sha256(as_bytes(seed), as_bytes(yyyymmdd));
  const Digest k_region = hmac_sha256(k_date.bytes(), as_bytes(scope.region));
  const Digest k_service = hmac_sha256(k_region.bytes(), as_bytes(scope.service));
  return hmac_sha256(k_service.bytes(), as_bytes("aws4_request"));
}

Headers sign_headers(const Request& request, const Credentials& credentials, const Scope& scope,
                     int64_t now_unix) {
  const std::string timestamp = amz_date(now_unix);
  Headers added{{"x-amz-date", timestamp}};
  if (scope.service == "s3") added.emplace_back("x-amz-content-sha256", request.payload_sha256_hex);
  if (!credentials.session_token.empty()) {
    added.emplace_back("x-amz-security-token", credentials.session_token);
  }
  Request signed_request = request;
  signed_request.headers.insert(signed_request.headers.end(), added.begin(), added.end());
  std::string names;
  const std::string canonical = canonical_request(signed_request, &names);
  added.emplace_back("authorization",
                     std::string(kAlgorithm) + " Credential=" + credentials.access_key_id + "/" +
                         credential_scope(timestamp.substr(0, 8), scope) +
                         ", SignedHeaders=" + names +
                         ", Signature=" + signature(credentials, scope, timestamp, canonical));
  return added;
}

std::string presign_query(const Request& request, const Credentials& credentials,
                          const Scope& scope, int64_t now_unix, int64_t expires_seconds) {
  const std::string timestamp = amz_date(now_unix);
  Request signed_request = request;
  signed_request.payload_sha256_hex = std::string(kUnsignedPayload);
  std::string names;
  (void)canonical_request(signed_request, &names);  // Only for the signed header names.
  auto& q = signed_request.query;
  q.emplace_back("X-Amz-Algorithm", std::string(kAlgorithm));
  q.emplace_back("X-Amz-Credential",
                 credentials.access_key_id + "/" + credential_scope(timestamp.substr(0, 8), scope));
  q.emplace_back("X-Amz-Date", timestamp);
  q.emplace_back("X-Amz-Expires", std::to_string(expires_seconds));
  q.emplace_back("X-Amz-SignedHeaders", names);
  if (!credentials.session_token.empty()) {
    q.emplace_back("X-Amz-Security-Token", credentials.session_token);
  }
  const std::string canonical = canonical_request(signed_request, nullptr);
  Headers encoded;
  for (const auto& [k, v] : q) encoded.emplace_back(uri_encode(k, false), uri_encode(v, false));
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [k, v] : encoded) {
    if (!out.empty()) out += '&';
    out += k + "=" + v;
  }
  return out + "&X-Amz-Signature=" + signature(credentials, scope, timestamp, canonical);
}

}  // namespace cairn::store::s3
