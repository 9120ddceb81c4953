#include "common/file_io.h"

#include <unistd.h>

#include <cstring>
#include <string>

namespace cairn {

Error errno_error(std::string_view what, int err) {
  std::string message(what);
  message += ": ";
  message += std::strerror(err);
  return Error(err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo, std::move(message));
}

Result<size_t> pread_full(int fd, void* data, size_t size, uint64_t offset) {
  size_t got = 0;
  while (got < size) {
    const ssize_t n =
        ::pread(fd, static_cast<char*>(data) + got, size - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("read");
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  return got;
}

}  // namespace cairn
