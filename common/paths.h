#pragma once

// "Is this path under that folder", once for the whole project. Paths are either relative to a
// working copy ("" is its root, above every other path) or remote and canonical ("/" is the
// root, above every other path); both arguments are in the same form. Matching is by whole
// names: "a/bc" is not below "a/b".

#include <string_view>

namespace cairn {

// `path` lies strictly below `folder`.
inline bool is_below(std::string_view path, std::string_view folder) {
  if (folder.empty()) return !path.empty();
  if (folder == "/") return path.size() > 1 && path.front() == '/';
  return path.size() > folder.size() && path.substr(0, folder.size()) == folder &&
         path[folder.size()] == '/';
}

// `path` is `folder` or lies below it.
inline bool is_within(std::string_view path, std::string_view folder) {
  return path == folder || is_below(path, folder);
}

// One of the two is the other or lies below it.
inline bool overlaps(std::string_view a, std::string_view b) {
  return is_within(a, b) || is_within(b, a);
}

}  // namespace cairn
