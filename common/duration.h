#pragma once

// Durations as people type them on a command line.

#include <cstdint>
#include <string>

#include "common/error.h"

namespace cairn {

// "90", "90s", "15m", "25h", "2d" -> seconds. kInvalidArgument for anything else.
Result<int64_t> parse_duration(const std::string& text);

}  // namespace cairn
