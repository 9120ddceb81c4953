#pragma once

// Helpers the service-level tests share: a clock the test moves by hand, and the query of a
// signed URL as the HTTP layer would parse it.

#include <cstdint>
#include <map>
#include <string>

#include "daemon/service/services.h"

namespace cairn::testing {

class ManualClock final : public service::Clock {
 public:
  int64_t now_seconds() const override { return now; }
  int64_t now = 1'800'000'000;
};

// "a=1&b=2" after the '?' of `url`, undecoded (signed URLs carry only digits and hex).
inline std::map<std::string, std::string> query_of(const std::string& url) {
  std::map<std::string, std::string> q;
  std::string rest = url.substr(url.find('?') + 1);
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    const std::string pair = rest.substr(0, amp);
    q[pair.substr(0, pair.find('='))] = pair.substr(pair.find('=') + 1);
    rest = amp == std::string::npos ? "" : rest.substr(amp + 1);
  }
  return q;
}

}  // namespace cairn::testing
