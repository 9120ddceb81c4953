#include "daemon/api/latency.h"

#include <cstdio>

namespace cairn::api {

void LatencyHistogram::observe(uint64_t micros) {
  const double seconds = static_cast<double>(micros) / 1e6;
  size_t i = 0;
  while (i < kBounds.size() && seconds > kBounds[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_micros_.fetch_add(micros, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

std::string LatencyHistogram::prometheus(std::string_view name, std::string_view labels) const {
  const uint64_t total = count_.load(std::memory_order_relaxed);
  if (total == 0) return "";
  std::string out;
  const std::string prefix(name);
  const std::string with(labels);
  uint64_t cumulative = 0;
  char bound[32];
  for (size_t i = 0; i <= kBounds.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    if (i < kBounds.size()) {
      std::snprintf(bound, sizeof(bound), "%g", kBounds[i]);
    } else {
      std::snprintf(bound, sizeof(bound), "+Inf");
    }
    out +=
        prefix + "_bucket{" + with + ",le=\"" + bound + "\"} " + std::to_string(cumulative) + "\n";
  }
  char sum[48];
  std::snprintf(sum, sizeof(sum), "%.6f",
                static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / 1e6);
  out += prefix + "_sum{" + with + "} " + sum + "\n";
  // The buckets were read one by one: _count is their total, so the +Inf bucket and _count agree.
  out += prefix + "_count{" + with + "} " + std::to_string(cumulative) + "\n";
  return out;
}

}  // namespace cairn::api
