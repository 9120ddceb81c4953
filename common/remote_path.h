#pragma once

// Remote path rules, shared by client and daemon so both accept exactly the same paths.
//
// A remote path names a file or folder inside a namespace. Its canonical form is "/" for the root
// or "/seg/seg/...": UTF-8 in Unicode NFC, no empty segments, no "." or "..", no segment ".cairn"
// in any letter case (a working copy's state folder), no NUL or other control character
// (U+0000-U+001F, U+007F), each segment at most 255 bytes, the whole path at most 4096 bytes. A
// leading "/" is optional on input and a single trailing "/" is dropped.
//
// The client holds every path the server sends to the same rules (a path is used only if it is
// already canonical), so a server that breaks them cannot make it write outside a working copy or
// into its state.

#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace cairn {

inline constexpr size_t kMaxNameBytes = 255;
inline constexpr size_t kMaxPathBytes = 4096;

// Returns the canonical form of `path`, or kInvalidArgument naming the rule it breaks.
Result<std::string> normalize_remote_path(std::string_view path);

// Validates one segment (a file or folder name) and returns its NFC form.
Result<std::string> normalize_remote_name(std::string_view name);

// Splits a canonical path into its segments ("/" has none).
std::vector<std::string> split_remote_path(std::string_view canonical);

// Joins a canonical folder path and a canonical name.
std::string join_remote_path(std::string_view folder, std::string_view name);

// The parent folder of a canonical path ("/" for top-level entries and for "/").
std::string remote_parent(std::string_view canonical);

// The last segment of a canonical path ("" for "/").
std::string_view remote_basename(std::string_view canonical);

}  // namespace cairn
