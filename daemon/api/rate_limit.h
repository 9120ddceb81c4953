#pragma once

// Per-token rate limits: a token bucket per token (by its hash), in this daemon's memory. Each
// daemon of a cluster limits on its own; a token spread over N daemons gets up to N times the
// rate, which still bounds what one runaway client can do to each.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/error.h"
#include "common/hash.h"

namespace cairn::api {

struct RateLimit {
  double per_second = 0;  // 0: no limit.
  double burst = 0;       // Requests allowed at once after a quiet spell.
};

// "RATE/s" or "RATE/s,BURST" (burst defaults to ten seconds' worth), or "off".
Result<RateLimit> parse_rate_limit(const std::string& text);

class RateLimiter {
 public:
  explicit RateLimiter(RateLimit limit) : limit_(limit) {}

  // Takes one request from `key`'s bucket. 0: go ahead; otherwise the whole seconds until the
  // bucket holds a request again (for Retry-After).
  int64_t take(const Digest& key);

 private:
  using Clock = std::chrono::steady_clock;
  struct Bucket {
    double tokens = 0;
    Clock::time_point at;
  };
  RateLimit limit_;
  std::mutex mu_;
  std::unordered_map<Digest, Bucket> buckets_;
};

}  // namespace cairn::api
