#include "common/conflict_name.h"

#include <ctime>

#include "common/remote_path.h"

namespace cairn {
namespace {

constexpr std::string_view kMarker = " (conflicted copy ";
constexpr size_t kMaxDeviceBytes = 64;

// Drops a trailing partial UTF-8 sequence after cutting `s` to at most `n` bytes.
std::string_view cut_utf8(std::string_view s, size_t n) {
  if (s.size() <= n) return s;
  size_t end = n;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return s.substr(0, end);
}

bool is_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// Where a conflicted-copy suffix "(conflicted copy [N ]from D YYYY-MM-DD HHMMSS)" starts in
// `stem`, if `stem` ends with one; npos otherwise.
size_t suffix_start(std::string_view stem) {
  if (stem.empty() || stem.back() != ')') return std::string_view::npos;
  const size_t at = stem.rfind(kMarker);
  if (at == std::string_view::npos) return at;
  std::string_view inner = stem.substr(at + kMarker.size());
  inner.remove_suffix(1);  // ')'
  // "[N ]from DEVICE YYYY-MM-DD HHMMSS"
  if (const size_t sp = inner.find(' ');
      sp != std::string_view::npos && is_digits(inner.substr(0, sp))) {
    inner.remove_prefix(sp + 1);
  }
  if (inner.substr(0, 5) != "from ") return std::string_view::npos;
  // Date and time: the last 17 characters, after the device.
  if (inner.size() < 5 + 1 + 1 + 17) return std::string_view::npos;
  const std::string_view when = inner.substr(inner.size() - 17);
  if (inner[inner.size() - 18] != ' ') return std::string_view::npos;
  const bool shape = is_digits(when.substr(0, 4)) && when[4] == '-' &&
                     is_digits(when.substr(5, 2)) && when[7] == '-' &&
                     is_digits(when.substr(8, 2)) && when[10] == ' ' &&
                     is_digits(when.substr(11, 6));
  return shape ? at : std::string_view::npos;
}

// Splits `name` into stem and extension (".txt"); dotfiles and names without a dot have none.
std::pair<std::string_view, std::string_view> split_extension(std::string_view name) {
  const size_t dot = name.rfind('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == name.size()) return {name, {}};
  const std::string_view ext = name.substr(dot);
  // Not an extension if it holds a space or is implausibly long ("v1.2 draft (…)").
  if (ext.size() > 16 || ext.find(' ') != std::string_view::npos) return {name, {}};
  return {name.substr(0, dot), ext};
}

}  // namespace

std::string conflicted_copy_name(std::string_view name, std::string_view device, int64_t mtime_ns,
                                 int n) {
  auto [stem, ext] = split_extension(name);
  if (const size_t at = suffix_start(stem); at != std::string_view::npos) stem = stem.substr(0, at);

  std::string dev;
  for (char c : cut_utf8(device, kMaxDeviceBytes)) {
    const auto u = static_cast<unsigned char>(c);
    dev += (c == '/' || u < 0x20 || u == 0x7F) ? '_' : c;
  }
  if (dev.empty()) dev = "unknown";

  const std::time_t t = static_cast<std::time_t>(mtime_ns / 1000000000);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char when[32];
  std::strftime(when, sizeof(when), "%Y-%m-%d %H%M%S", &tm);

  std::string suffix(kMarker);
  if (n > 1) suffix += std::to_string(n) + " ";
  suffix += "from " + dev + " " + when + ")";

  // Keep the whole name within the limit by shortening the stem, never the suffix.
  const size_t room =
      kMaxNameBytes > suffix.size() + ext.size() ? kMaxNameBytes - suffix.size() - ext.size() : 0;
  std::string out(cut_utf8(stem, room));
  if (out.empty()) out = "file";
  out += suffix;
  out += ext;
  return out;
}

bool is_conflicted_copy(std::string_view name) {
  const auto [stem, ext] = split_extension(name);
  return suffix_start(stem) != std::string_view::npos;
}

}  // namespace cairn
