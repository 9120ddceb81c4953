#include "common/remote_path.h"

#include <utf8proc.h>

#include <algorithm>
#include <cstdlib>
#include <memory>

namespace cairn {
namespace {

Result<std::string> to_nfc(std::string_view s) {
  // ASCII is its own normal form: most names are, and skip utf8proc's decomposition.
  if (std::all_of(s.begin(), s.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
    return std::string(s);
  }
  utf8proc_uint8_t* out = nullptr;
  // STABLE keeps unassigned code points out of the result so that the normal form cannot change
  // when a later Unicode version assigns them; REJECTNA refuses them outright.
  const auto options =
      static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_REJECTNA);
  const utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                                          static_cast<utf8proc_ssize_t>(s.size()), &out, options);
  if (n < 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      std::string("path is not valid UTF-8: ") + utf8proc_errmsg(n));
  }
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owned(out, &std::free);
  return std::string(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
}

// ".cairn" in any letter case: a working copy's own state lives in a folder of that name, and a
// case-insensitive file system would take ".CAIRN" for it.
bool is_state_folder_name(std::string_view seg) {
  constexpr std::string_view kReserved = ".cairn";
  if (seg.size() != kReserved.size()) return false;
  for (size_t i = 0; i < seg.size(); ++i) {
    const char c = seg[i] >= 'A' && seg[i] <= 'Z' ? static_cast<char>(seg[i] - 'A' + 'a') : seg[i];
    if (c != kReserved[i]) return false;
  }
  return true;
}

Result<void> check_segment(std::string_view seg) {
  if (seg.empty()) return make_error(ErrorCode::kInvalidArgument, "path has an empty segment");
  if (seg == "." || seg == "..") {
    return make_error(ErrorCode::kInvalidArgument,
                      "path segment '" + std::string(seg) + "' is not allowed");
  }
  if (is_state_folder_name(seg)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "the name '" + std::string(seg) +
                          "' is reserved: a working copy keeps its own state in .cairn");
  }
  if (seg.size() > kMaxNameBytes) {
    return make_error(ErrorCode::kInvalidArgument,
                      "name longer than 255 bytes: " + std::string(seg.substr(0, 32)) + "...");
  }
  for (const char c : seg) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) {
      return make_error(ErrorCode::kInvalidArgument, "path contains a control character");
    }
  }
  return {};
}

}  // namespace

Result<std::string> normalize_remote_name(std::string_view name) {
  if (name.find('/') != std::string_view::npos) {
    return make_error(ErrorCode::kInvalidArgument, "a name may not contain '/'");
  }
  // NUL would end the string in C APIs: reject it before normalising.
  if (name.find('\0') != std::string_view::npos) {
    return make_error(ErrorCode::kInvalidArgument, "path contains a NUL byte");
  }
  CAIRN_ASSIGN_OR_RETURN(std::string nfc, to_nfc(name));
  CAIRN_RETURN_IF_ERROR(check_segment(nfc));
  return nfc;
}

Result<std::string> normalize_remote_path(std::string_view path) {
  if (path.find('\0') != std::string_view::npos) {
    return make_error(ErrorCode::kInvalidArgument, "path contains a NUL byte");
  }
  if (path.size() > kMaxPathBytes) {
    return make_error(ErrorCode::kInvalidArgument, "path longer than 4096 bytes");
  }
  std::string_view rest = path;
  if (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
  if (rest.empty()) return std::string("/");
  if (rest.back() == '/') {
    rest.remove_suffix(1);
    if (rest.empty()) return make_error(ErrorCode::kInvalidArgument, "path has an empty segment");
  }

  CAIRN_ASSIGN_OR_RETURN(std::string nfc, to_nfc(rest));
  std::string out;
  out.reserve(nfc.size() + 1);
  size_t start = 0;
  while (true) {
    const size_t slash = nfc.find('/', start);
    const std::string_view seg = std::string_view(nfc).substr(
        start, slash == std::string::npos ? std::string::npos : slash - start);
    CAIRN_RETURN_IF_ERROR(check_segment(seg));
    out += '/';
    out += seg;
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  // NFC can lengthen a string, so check the limit again on the result.
  if (out.size() > kMaxPathBytes) {
    return make_error(ErrorCode::kInvalidArgument, "path longer than 4096 bytes");
  }
  return out;
}

std::vector<std::string> split_remote_path(std::string_view canonical) {
  std::vector<std::string> out;
  size_t start = 1;
  while (start < canonical.size()) {
    size_t slash = canonical.find('/', start);
    if (slash == std::string_view::npos) slash = canonical.size();
    out.emplace_back(canonical.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

std::string join_remote_path(std::string_view folder, std::string_view name) {
  std::string out(folder);
  if (out.empty() || out.back() != '/') out += '/';
  out += name;
  return out;
}

std::string remote_parent(std::string_view canonical) {
  const size_t slash = canonical.rfind('/');
  if (slash == std::string_view::npos || slash == 0) return "/";
  return std::string(canonical.substr(0, slash));
}

std::string_view remote_basename(std::string_view canonical) {
  const size_t slash = canonical.rfind('/');
  return slash == std::string_view::npos ? canonical : canonical.substr(slash + 1);
}

}  // namespace cairn
