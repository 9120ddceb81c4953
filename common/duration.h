#pragma once

// Durations as people type them on a command line.

#include <cstdint>
#include <string>

#include "common/error.h"

namespace cairn {

// "90", "90s", "15m", "25h", "2d" -> seconds. kInvalidArgument for anything else.
Result<int64_t> parse_duration(const std::string& text);

// A moment as `--at` takes it -> milliseconds since the epoch. `now_ms` is the current time.
// - a duration ago: "90s", "15m", "25h", "3d", "2w" (a unit is needed);
// - "now", or Unix time: "@SECONDS", "@SECONDS.FRACTION", or a bare number of 9 digits or more;
// - a date or a date and time, RFC 3339 or close to it: "2026-11-20", "2026-11-20T14:30",
//   "2026-11-20 14:30:05", "2026-11-20T14:30:05.250Z", "...+01:00". Without an offset it is local
//   time (TZ). A time stands for the end of the span it names: a date for the end of that day,
//   a minute for the end of that minute, a second for the end of that second, so that the state
//   "at 14:30:05" includes what was done during that second.
// kInvalidArgument for anything else.
Result<int64_t> parse_point_in_time(const std::string& text, int64_t now_ms);

// A moment in milliseconds since the epoch as RFC 3339 UTC: "2026-11-20T14:30:05.250Z".
std::string utc_text(int64_t at_ms);

}  // namespace cairn
