#pragma once

// How long requests take, as a Prometheus histogram: counts per upper bound (seconds), a sum and
// a total. Recording is lock-free (relaxed atomics: statistics, not synchronisation), so every
// connection thread can record into the same histogram.

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace cairn::api {

class LatencyHistogram {
 public:
  // Upper bounds in seconds, from a cache hit (1 ms) to a large download (60 s); +Inf follows.
  static constexpr std::array<double, 14> kBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                     0.25,  0.5,    1,     2.5,  5,     10,   60};

  void observe(uint64_t micros);

  // The series of metric `name` with `labels` (`method="GET",route="/v1/list"`): one _bucket
  // line per bound (cumulative), +Inf, _sum (seconds) and _count. Empty when nothing was
  // recorded, so that routes nobody called add no lines.
  std::string prometheus(std::string_view name, std::string_view labels) const;

 private:
  std::array<std::atomic<uint64_t>, kBounds.size() + 1> buckets_{};  // Not cumulative; last: +Inf.
  std::atomic<uint64_t> sum_micros_{0};
  std::atomic<uint64_t> count_{0};
};

}  // namespace cairn::api
