#include "daemon/api/http_types.h"

#include "common/protocol/protocol.h"

namespace cairn::api {

HttpResponse HttpResponse::json(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResponse HttpResponse::error(const Error& error) {
  return HttpResponse::error(http_status_for(error.code()), error_code_name(error.code()),
                             error.message());
}

HttpResponse HttpResponse::error(int status, std::string_view code, std::string message) {
  return json(status,
              protocol::encode_json(protocol::ErrorBody{std::string(code), std::move(message)}));
}

int http_status_for(ErrorCode code) {
  switch (code) {
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kAlreadyExists:
    case ErrorCode::kConflict:
      return 409;
    case ErrorCode::kInvalidArgument:
      return 400;
    case ErrorCode::kUnauthenticated:
      return 401;
    case ErrorCode::kPermissionDenied:
      return 403;
    case ErrorCode::kQuotaExceeded:
    case ErrorCode::kStorageFull:
      return 507;
    case ErrorCode::kTooLarge:
      return 413;
    case ErrorCode::kCorrupt:
      return 422;
    case ErrorCode::kUnavailable:
      return 503;
    case ErrorCode::kIo:
    case ErrorCode::kInternal:
      return 500;
  }
  return 500;
}

std::optional<std::string> url_decode(std::string_view in, bool plus_is_space) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return std::nullopt;
      const int hi = hex(in[i + 1]);
      const int lo = hex(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>((hi << 4) | lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

void HttpRequest::set_target(std::string sent) {
  target = std::move(sent);
  const size_t q = target.find('?');
  path = target.substr(0, q);
  query.clear();
  if (q != std::string::npos) query = parse_query(std::string_view(target).substr(q + 1));
}

std::map<std::string, std::string> parse_query(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const size_t eq = pair.find('=');
    auto key = url_decode(pair.substr(0, eq), true);
    auto value = eq == std::string_view::npos ? std::optional<std::string>("")
                                              : url_decode(pair.substr(eq + 1), true);
    if (key && value && !key->empty()) out[*key] = *value;
  }
  return out;
}

}  // namespace cairn::api
