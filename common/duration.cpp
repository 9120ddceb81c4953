#include "common/duration.h"

#include <charconv>
#include <string_view>

namespace cairn {

Result<int64_t> parse_duration(const std::string& text) {
  int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, value);
  const std::string_view unit(p, static_cast<size_t>(end - p));
  int64_t scale = 0;
  if (unit.empty() || unit == "s") scale = 1;
  if (unit == "m") scale = 60;
  if (unit == "h") scale = 3600;
  if (unit == "d") scale = 86400;
  if (ec != std::errc() || p == text.data() || value < 0 || scale == 0 ||
      value > INT64_MAX / scale) {
    return make_error(ErrorCode::kInvalidArgument,
                      "not a duration: " + text + " (use e.g. 90m, 25h, 2d or seconds)");
  }
  return value * scale;
}

}  // namespace cairn
