#include "daemon/service/url_signer.h"

#include "daemon/service/parse.h"

namespace cairn::service {

std::string UrlSigner::sign(std::string_view purpose, std::string_view where,
                            const std::string& hex, const Fields& fields, int64_t expires) const {
  const std::string expiry = std::to_string(expires);
  std::vector<std::string> values;
  std::string url = std::string(where) + hex + "?";
  for (const auto& [name, value] : fields) {
    values.push_back(std::to_string(value));
    url += name + "=" + values.back() + "&";
  }
  return url + "e=" + expiry + "&s=" + signature(purpose, hex, values, expiry).hex();
}

Digest UrlSigner::signature(std::string_view purpose, const std::string& hex,
                            const std::vector<std::string>& values,
                            const std::string& expires) const {
  std::string payload = std::string(purpose) + "\n" + hex;
  for (const auto& v : values) payload += "\n" + v;
  payload += "\n" + expires;
  return hmac_sha256(key_, as_bytes(payload));
}

Result<std::vector<int64_t>> UrlSigner::verify(std::string_view purpose, const std::string& hex,
                                               const std::map<std::string, std::string>& query,
                                               const std::vector<std::string>& names, int64_t now,
                                               std::string_view what,
                                               std::string_view where_from) const {
  auto field = [&](const std::string& name) -> std::optional<int64_t> {
    auto it = query.find(name);
    if (it == query.end()) return std::nullopt;
    auto v = parse_int(it->second);
    if (!v || *v < 0) return std::nullopt;
    return v;
  };
  std::vector<int64_t> numbers;
  std::vector<std::string> values;
  for (const auto& name : names) {
    auto v = field(name);
    if (!v) break;
    numbers.push_back(*v);
    values.push_back(std::to_string(*v));
  }
  const auto expires = field("e");
  const auto sig = query.find("s");
  if (numbers.size() != names.size() || !expires || sig == query.end()) {
    return make_error(
        ErrorCode::kPermissionDenied,
        std::string(what) + " URL is not signed (get one from " + std::string(where_from) + ")");
  }
  const Digest expected = signature(purpose, hex, values, std::to_string(*expires));
  auto given = from_hex(sig->second);
  if (!given || !constant_time_equal(*given, expected.bytes())) {
    return make_error(ErrorCode::kPermissionDenied,
                      std::string(what) + " URL signature does not match");
  }
  if (*expires < now) {
    return make_error(ErrorCode::kPermissionDenied, std::string(what) + " URL has expired");
  }
  return numbers;
}

}  // namespace cairn::service
