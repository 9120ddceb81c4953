#include "common/file_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace cairn {

Error errno_error(std::string_view what, int err) {
  std::string message(what);
  message += ": ";
  message += std::strerror(err);
  const ErrorCode code = err == ENOENT                      ? ErrorCode::kNotFound
                         : (err == ENOSPC || err == EDQUOT) ? ErrorCode::kStorageFull
                                                            : ErrorCode::kIo;
  return Error(code, std::move(message));
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

Result<void> write_full(int fd, ByteView data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("write");
    done += static_cast<size_t>(n);
  }
  return {};
}

Result<void> fsync_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_error("open " + path, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return errno_error("fsync " + path, err);
  return {};
}

Result<void> pwrite_full(int fd, ByteView data, uint64_t offset) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n =
        ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("write");
    if (n == 0) return Error(ErrorCode::kIo, "write: no progress");
    done += static_cast<size_t>(n);
  }
  return {};
}

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

Result<UniqueFd> open_unnamed_temp(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0) return UniqueFd(fd);
  // Only a file system without O_TMPFILE falls back; anything else (a missing folder, a full
  // disk, no permission) is the answer.
  if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
    return errno_error("temporary file in " + dir);
  }
  std::string path = dir + "/.tmp-XXXXXX";
  const int named = ::mkostemp(path.data(), O_CLOEXEC);
  if (named < 0) return errno_error("temporary file in " + dir);
  UniqueFd file(named);
  if (::unlink(path.c_str()) != 0) return errno_error("unlink " + path);
  return file;
}

}  // namespace cairn
