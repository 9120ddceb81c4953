#pragma once

// Parsing of the small strings services receive in paths and query parameters.

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/hash.h"

namespace cairn::service {

// A decimal integer and nothing else.
inline std::optional<int64_t> parse_int(std::string_view s) {
  int64_t v = 0;
  const auto* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, v);
  if (ec != std::errc() || p != end) return std::nullopt;
  return v;
}

inline Result<Digest> parse_digest(std::string_view hex) {
  auto d = Digest::from_hex(hex);
  if (!d) {
    return make_error(ErrorCode::kInvalidArgument,
                      "not a SHA-256 hex digest: " + std::string(hex.substr(0, 80)));
  }
  return *d;
}

}  // namespace cairn::service
