#include "common/duration.h"

#include <charconv>
#include <cstdio>
#include <ctime>
#include <optional>
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

namespace {

// Reads `digits` decimal digits at `at`, moving past them.
bool read_digits(std::string_view text, size_t& at, size_t digits, int& out) {
  if (at + digits > text.size()) return false;
  out = 0;
  for (size_t i = 0; i < digits; ++i) {
    const char c = text[at + i];
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  at += digits;
  return true;
}

Result<int64_t> bad_time(const std::string& text) {
  return make_error(ErrorCode::kInvalidArgument,
                    "not a time: " + text +
                        " (use e.g. 2026-11-20, 2026-11-20T14:30:05Z, 3d for three days ago, or "
                        "@UNIX_SECONDS)");
}

}  // namespace

std::string utc_text(int64_t at_ms) {
  const auto t = static_cast<std::time_t>(at_ms / 1000);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[48];
  const size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof(buf) - n, ".%03dZ", static_cast<int>(at_ms % 1000));
  return buf;
}

namespace {

// parse_point_in_time without the check that the result is not before 1970.
Result<int64_t> parse_moment(const std::string& text, int64_t now_ms) {
  if (text == "now") return now_ms;
  // Unix time: "@SECONDS[.FRACTION]", or a bare number of 9 digits or more (`date +%s`).
  const bool bare = text.size() >= 9 && text.find_first_not_of("0123456789") == std::string::npos;
  if (bare || (!text.empty() && text[0] == '@')) {
    const std::string_view t = std::string_view(text).substr(bare ? 0 : 1);
    const size_t dot = t.find('.');
    const std::string_view whole = t.substr(0, dot);
    int64_t seconds = 0;
    auto [p, ec] = std::from_chars(whole.data(), whole.data() + whole.size(), seconds);
    if (whole.empty() || ec != std::errc() || p != whole.data() + whole.size() || seconds < 0 ||
        seconds > INT64_MAX / 1000 - 1000) {
      return bad_time(text);
    }
    if (dot == std::string_view::npos) return seconds * 1000 + 999;  // The whole second.
    int64_t ms = 0;
    int64_t scale = 100;
    const std::string_view fraction = t.substr(dot + 1);
    for (const char c : fraction) {
      if (c < '0' || c > '9') return bad_time(text);
      ms += (c - '0') * scale;
      scale /= 10;
    }
    if (fraction.empty()) return bad_time(text);
    return seconds * 1000 + ms;
  }
  if (!text.empty() && std::string_view("smhdw").find(text.back()) != std::string_view::npos &&
      text.find('-') == std::string::npos) {
    const bool weeks = text.back() == 'w';
    auto ago = parse_duration(weeks ? text.substr(0, text.size() - 1) + "d" : text);
    if (!ago || *ago > INT64_MAX / 7000) return bad_time(text);
    return now_ms - *ago * (weeks ? 7 : 1) * 1000;
  }
  const std::string_view t(text);
  size_t at = 0;
  std::tm tm{};
  int year = 0;
  int month = 0;
  int day = 0;
  if (!read_digits(t, at, 4, year) || at >= t.size() || t[at++] != '-' ||
      !read_digits(t, at, 2, month) || at >= t.size() || t[at++] != '-' ||
      !read_digits(t, at, 2, day) || month < 1 || month > 12 || day < 1 || day > 31) {
    return bad_time(text);
  }
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  int64_t span_ms = 86'400'000;  // What the text leaves open: the rest of the day, minute...
  int64_t fraction_ms = 0;
  if (at < t.size() && (t[at] == 'T' || t[at] == 't' || t[at] == ' ')) {
    ++at;
    if (!read_digits(t, at, 2, tm.tm_hour) || at >= t.size() || t[at++] != ':' ||
        !read_digits(t, at, 2, tm.tm_min) || tm.tm_hour > 23 || tm.tm_min > 59) {
      return bad_time(text);
    }
    span_ms = 60'000;
    if (at < t.size() && t[at] == ':') {
      ++at;
      if (!read_digits(t, at, 2, tm.tm_sec) || tm.tm_sec > 60) return bad_time(text);
      span_ms = 1000;
      if (at < t.size() && (t[at] == '.' || t[at] == ',')) {
        ++at;
        int64_t scale = 100;
        const size_t first = at;
        while (at < t.size() && t[at] >= '0' && t[at] <= '9') {
          fraction_ms += (t[at] - '0') * scale;
          scale /= 10;
          ++at;
        }
        if (at == first) return bad_time(text);
        span_ms = 1;
      }
    }
  }
  std::optional<int64_t> offset_s;  // East of UTC.
  if (at < t.size() && (t[at] == 'Z' || t[at] == 'z')) {
    offset_s = 0;
    ++at;
  } else if (at < t.size() && (t[at] == '+' || t[at] == '-') && span_ms < 86'400'000) {
    const int sign = t[at++] == '-' ? -1 : 1;
    int hours = 0;
    int minutes = 0;
    if (!read_digits(t, at, 2, hours)) return bad_time(text);
    if (at < t.size() && t[at] == ':') ++at;
    if (!read_digits(t, at, 2, minutes) || hours > 23 || minutes > 59) return bad_time(text);
    offset_s = sign * (hours * 3600 + minutes * 60);
  }
  if (at != t.size()) return bad_time(text);
  int64_t seconds = 0;
  if (offset_s) {
    seconds = static_cast<int64_t>(::timegm(&tm)) - *offset_s;
  } else {
    tm.tm_isdst = -1;  // Local time, daylight saving as it was on that date.
    seconds = static_cast<int64_t>(std::mktime(&tm));
  }
  return seconds * 1000 + fraction_ms + span_ms - 1;
}

}  // namespace

Result<int64_t> parse_point_in_time(const std::string& text, int64_t now_ms) {
  CAIRN_ASSIGN_OR_RETURN(const int64_t at, parse_moment(text, now_ms));
  // Nothing is older than 1970; a long "ago" or an early date is a mistake, not a time.
  if (at < 0) {
    return make_error(ErrorCode::kInvalidArgument, "not a time: " + text + " is before 1970");
  }
  return at;
}

}  // namespace cairn
