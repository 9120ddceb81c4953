#include "common/protocol/log.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/duration.h"

namespace cairn::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};

constexpr std::string_view kNames[] = {"debug", "info", "warn", "error"};

}  // namespace

Result<Level> parse_level(std::string_view name) {
  for (size_t i = 0; i < std::size(kNames); ++i) {
    if (name == kNames[i]) return static_cast<Level>(i);
  }
  return make_error(ErrorCode::kInvalidArgument,
                    "unknown log level '" + std::string(name) + "' (debug, info, warn or error)");
}

std::string_view level_name(Level level) { return kNames[static_cast<int>(level)]; }

void set_level(Level level) { g_level.store(static_cast<int>(level), std::memory_order_relaxed); }

bool enabled(Level level) {
  return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}

std::string format_line(int64_t unix_ms, Level level, std::string_view event, std::string_view msg,
                        std::initializer_list<Field> fields) {
  nlohmann::ordered_json line;
  line["ts"] = utc_text(unix_ms);
  line["level"] = level_name(level);
  line["event"] = event;
  if (!msg.empty()) line["msg"] = msg;
  for (const Field& f : fields) {
    const std::string key(f.key);
    if (const auto* text = std::get_if<std::string_view>(&f.value)) {
      line[key] = *text;
    } else {
      line[key] = std::get<int64_t>(f.value);
    }
  }
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void write(Level level, std::string_view event, std::string_view msg,
           std::initializer_list<Field> fields) {
  if (!enabled(level)) return;
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  std::string text = format_line(now, level, event, msg, fields);
  text += '\n';
  // One write per line, so that lines from several threads never interleave.
  const char* p = text.data();
  size_t left = text.size();
  while (left > 0) {
    const ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // Nowhere to log to: nothing better to do.
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace cairn::log
