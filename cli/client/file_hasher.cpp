#include "cli/client/file_hasher.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "common/hash.h"

namespace cairn::client {
namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

Result<int> open_for_read(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return make_error(ErrorCode::kIo, "open " + path + ": " + std::strerror(errno));
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  return fd;
}

Result<size_t> read_some(int fd, std::span<std::byte> buf, const std::string& path) {
  while (true) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n >= 0) return static_cast<size_t>(n);
    if (errno != EINTR) {
      return make_error(ErrorCode::kIo, "read " + path + ": " + std::strerror(errno));
    }
  }
}

}  // namespace

Result<HashedFile> hash_file(const std::string& path, const ChunkerParams& params,
                             const ChunkCallback& on_chunk) {
  CAIRN_ASSIGN_OR_RETURN(const int raw_fd, open_for_read(path));
  Fd fd(raw_fd);
  HashedFile out;
  Xxh3 fingerprint;
  StreamChunker chunker(params, [&](std::span<std::byte> buf) -> Result<size_t> {
    CAIRN_ASSIGN_OR_RETURN(const size_t n, read_some(fd.get(), buf, path));
    fingerprint.update(buf.first(n));
    return n;
  });
  Sha256 sha;
  while (true) {
    CAIRN_ASSIGN_OR_RETURN(auto next, chunker.next());
    if (!next) break;
    sha.update(next->data);
    const ChunkRef ref{sha.finish(), static_cast<uint32_t>(next->data.size())};
    out.manifest.add(ref);
    if (on_chunk) on_chunk(ref, next->offset);
    out.size += ref.length;
  }
  out.xxh3 = fingerprint.digest();
  return out;
}

Result<uint64_t> fingerprint_file(const std::string& path) {
  CAIRN_ASSIGN_OR_RETURN(const int raw_fd, open_for_read(path));
  Fd fd(raw_fd);
  Xxh3 fingerprint;
  std::vector<std::byte> buf(1 << 20);
  while (true) {
    CAIRN_ASSIGN_OR_RETURN(const size_t n, read_some(fd.get(), buf, path));
    if (n == 0) break;
    fingerprint.update(std::span<const std::byte>(buf.data(), n));
  }
  return fingerprint.digest();
}

}  // namespace cairn::client
