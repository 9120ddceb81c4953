#pragma once

// POSIX file helpers the daemon and the client share: an errno as an Error, a descriptor that
// closes itself, reads and writes that do not stop at a short count or a signal, and unnamed
// temporary files.

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "common/bytes.h"
#include "common/error.h"

namespace cairn {

// "WHAT: strerror(err)", as kNotFound for ENOENT and kIo for anything else (a full disk too).
Error errno_error(std::string_view what, int err = errno);

// Reads `size` bytes at `offset` into `data`, across short reads and EINTR. Returns how many
// were read: fewer than `size` only at the end of the file.
Result<size_t> pread_full(int fd, void* data, size_t size, uint64_t offset);

// Writes all of `data` at the file's position, across short writes and EINTR.
Result<void> write_full(int fd, ByteView data);

// Writes all of `data` at `offset`, across short writes and EINTR.
Result<void> pwrite_full(int fd, ByteView data, uint64_t offset);

// Makes a file's content, or a folder's entries (after a create or rename in it), durable.
Result<void> fsync_path(const std::string& path);

// An open file descriptor, closed when this goes (-1: none).
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// A new file in `dir` that has no name (O_TMPFILE; where the file system lacks it, one made with
// mkstemp and unlinked at once): nothing is left behind however the process ends.
Result<UniqueFd> open_unnamed_temp(const std::string& dir);

}  // namespace cairn
