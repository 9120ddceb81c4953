#pragma once

// POSIX file helpers the daemon and the client share: an errno as an Error, and a positional
// read that does not stop at a short read or a signal.

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/error.h"

namespace cairn {

// "WHAT: strerror(err)", as kNotFound for ENOENT and kIo for anything else (a full disk too).
Error errno_error(std::string_view what, int err = errno);

// Reads `size` bytes at `offset` into `data`, across short reads and EINTR. Returns how many
// were read: fewer than `size` only at the end of the file.
Result<size_t> pread_full(int fd, void* data, size_t size, uint64_t offset);

}  // namespace cairn
