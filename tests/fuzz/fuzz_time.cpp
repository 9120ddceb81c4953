// The times and durations a user or a script passes (--at, --since, --grace, retention): a
// value or kInvalidArgument, never a crash or an overflow (UBSan watches the arithmetic).

#include "common/duration.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cairn;
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (auto d = parse_duration(text)) {
    FUZZ_CHECK(*d >= 0);
  } else {
    FUZZ_CHECK(d.error().code() == ErrorCode::kInvalidArgument);
  }
  const int64_t now_ms = 1'800'000'000'000;
  if (auto at = parse_point_in_time(text, now_ms)) {
    FUZZ_CHECK(*at >= 0);
    FUZZ_CHECK(!utc_text(*at).empty());
  } else {
    FUZZ_CHECK(at.error().code() == ErrorCode::kInvalidArgument);
  }
  return 0;
}
