#pragma once

// cairnd's log: one JSON object per line on stderr, so that journald, `jq` and log shippers read
// it without a parser of ours. Every line has "ts" (UTC, milliseconds), "level" and "event" (a
// stable name); "msg" (for people) and the event's own fields follow. docs/operations.md lists
// the events and their fields. Never log a token, a link's secret or a signed URL's signature.

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

#include "common/error.h"

namespace cairn::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// "debug", "info", "warn" or "error"; kInvalidArgument for anything else.
Result<Level> parse_level(std::string_view name);
std::string_view level_name(Level level);

// Lines below `level` are dropped (the default is kInfo). Safe to call from any thread.
void set_level(Level level);
bool enabled(Level level);

// One field of a line: text or a whole number.
struct Field {
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
  Field(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
  Field(std::string_view k, int64_t v) : key(k), value(v) {}
  Field(std::string_view k, uint64_t v) : key(k), value(static_cast<int64_t>(v)) {}
  Field(std::string_view k, int v) : key(k), value(static_cast<int64_t>(v)) {}
  std::string_view key;
  std::variant<std::string_view, int64_t> value;
};

// The line for an event (without the trailing newline); `msg` is left out when empty. Text that
// is not valid UTF-8 is written with replacement characters, never dropped.
std::string format_line(int64_t unix_ms, Level level, std::string_view event, std::string_view msg,
                        std::initializer_list<Field> fields);

// Writes the line (now, on stderr, in one write) when `level` is enabled.
void write(Level level, std::string_view event, std::string_view msg,
           std::initializer_list<Field> fields = {});

inline void info(std::string_view event, std::string_view msg,
                 std::initializer_list<Field> fields = {}) {
  write(Level::kInfo, event, msg, fields);
}
inline void warn(std::string_view event, std::string_view msg,
                 std::initializer_list<Field> fields = {}) {
  write(Level::kWarn, event, msg, fields);
}
inline void error(std::string_view event, std::string_view msg,
                  std::initializer_list<Field> fields = {}) {
  write(Level::kError, event, msg, fields);
}

}  // namespace cairn::log
