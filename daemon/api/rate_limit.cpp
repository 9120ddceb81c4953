#include "daemon/api/rate_limit.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace cairn::api {
namespace {

std::optional<double> parse_number(std::string_view text) {
  double value = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || p != text.data() + text.size() || !(value > 0)) return std::nullopt;
  return value;
}

}  // namespace

Result<RateLimit> parse_rate_limit(const std::string& text) {
  if (text == "off" || text == "0") return RateLimit{};
  const Error bad(
      ErrorCode::kInvalidArgument,
      "--rate-limit takes RATE/s or RATE/s,BURST (e.g. 100/s,1000) or off, not '" + text + "'");
  const size_t slash = text.find("/s");
  if (slash == std::string::npos) return bad;
  auto rate = parse_number(std::string_view(text).substr(0, slash));
  if (!rate) return bad;
  RateLimit limit{*rate, *rate * 10};
  const std::string_view rest = std::string_view(text).substr(slash + 2);
  if (!rest.empty()) {
    if (rest[0] != ',') return bad;
    auto burst = parse_number(rest.substr(1));
    if (!burst || *burst < 1) return bad;
    limit.burst = *burst;
  }
  return limit;
}

int64_t RateLimiter::take(const Digest& key) {
  if (limit_.per_second <= 0) return 0;
  const auto now = Clock::now();
  std::lock_guard lock(mu_);
  if (buckets_.size() > 100'000) {
    // Forget full buckets (tokens idle long enough to have refilled): they hold no state.
    std::erase_if(buckets_, [&](const auto& entry) {
      const double idle = std::chrono::duration<double>(now - entry.second.at).count();
      return entry.second.tokens + idle * limit_.per_second >= limit_.burst;
    });
  }
  auto [it, fresh] = buckets_.try_emplace(key, Bucket{limit_.burst, now});
  Bucket& b = it->second;
  if (!fresh) {
    const double idle = std::chrono::duration<double>(now - b.at).count();
    b.tokens = std::min(limit_.burst, b.tokens + idle * limit_.per_second);
    b.at = now;
  }
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return 0;
  }
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil((1 - b.tokens) / limit_.per_second)));
}

}  // namespace cairn::api
