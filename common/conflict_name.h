#pragma once

// Names of conflicted copies, shared by the daemon (which names the copy when a commit finds
// that the head moved) and the client (which names the local side when a pull meets a local
// edit), so that both sides of the same conflict arrive at the same name:
//
//   "report (conflicted copy from laptop 2026-11-26 081503).txt"
//   "report (conflicted copy 2 from laptop 2026-11-26 081503).txt"   (the first name was taken)
//
// DEVICE is the device whose edit lost the race; the time is that edit's modification time in
// UTC. A copy of a copy never nests: the suffix replaces any suffix the name already has.

#include <cstdint>
#include <string>
#include <string_view>

namespace cairn {

// The `n`th candidate name (n >= 1) of a conflicted copy of `name`, a valid file name of at most
// kMaxNameBytes. `device` is sanitised ('/' and control characters become '_', at most 64
// bytes); `mtime_ns` is Unix nanoseconds.
std::string conflicted_copy_name(std::string_view name, std::string_view device, int64_t mtime_ns,
                                 int n = 1);

// Whether `name` (the last segment of a path) is a conflicted copy's name.
bool is_conflicted_copy(std::string_view name);

}  // namespace cairn
