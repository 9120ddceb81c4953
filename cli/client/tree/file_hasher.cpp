#include "cli/client/tree/file_hasher.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <span>
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

// Hashes the chunks of one file on a HashPool and collects the results in order.
class ParallelChunkHasher {
 public:
  ParallelChunkHasher(HashPool& pool, const ChunkCallback& on_chunk)
      : pool_(pool), on_chunk_(on_chunk), max_in_flight_(static_cast<size_t>(pool.threads()) + 1) {}

  ~ParallelChunkHasher() { wait(); }

  void add(ByteView bytes, uint64_t offset) {
    Bytes buffer;
    size_t index = 0;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return in_flight_ < max_in_flight_; });
      ++in_flight_;
      index = refs_.size();
      refs_.emplace_back();
      if (!free_.empty()) {
        buffer = std::move(free_.back());
        free_.pop_back();
      }
    }
    buffer.assign(bytes.begin(), bytes.end());
    pool_.submit([this, index, offset, buffer = std::move(buffer)]() mutable {
      const ChunkRef ref{sha256(buffer), static_cast<uint32_t>(buffer.size())};
      if (on_chunk_) on_chunk_(ref, offset, buffer);
      std::lock_guard lock(mu_);
      refs_[index] = ref;
      free_.push_back(std::move(buffer));
      --in_flight_;
      cv_.notify_all();
    });
  }

  void wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return in_flight_ == 0; });
  }

  std::vector<ChunkRef> take() {
    wait();
    return std::move(refs_);
  }

 private:
  HashPool& pool_;
  const ChunkCallback& on_chunk_;
  const size_t max_in_flight_;
  std::mutex mu_;
  std::condition_variable cv_;
  size_t in_flight_ = 0;
  std::vector<ChunkRef> refs_;
  std::vector<Bytes> free_;
};

}  // namespace

HashPool::HashPool(int threads) {
  for (int i = 0; i < std::max(1, threads); ++i) {
    workers_.emplace_back([this] {
      while (true) {
        std::function<void()> job;
        {
          std::unique_lock lock(mu_);
          cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
          if (jobs_.empty()) return;
          job = std::move(jobs_.front());
          jobs_.pop_front();
        }
        job();
      }
    });
  }
}

HashPool::~HashPool() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& w : workers_) w.join();
}

void HashPool::submit(std::function<void()> job) {
  {
    std::lock_guard lock(mu_);
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
}

Result<HashedFile> hash_file(const std::string& path, const ChunkerParams& params,
                             const ChunkCallback& on_chunk, HashPool* pool) {
  CAIRN_ASSIGN_OR_RETURN(const int raw_fd, open_for_read(path));
  Fd fd(raw_fd);
  HashedFile out;
  struct stat st {};
  const bool sized = ::fstat(fd.get(), &st) == 0;
  const bool parallel =
      pool != nullptr && sized && static_cast<uint64_t>(st.st_size) >= kParallelHashMinBytes;
  std::unique_lock<std::mutex> pool_taken;
  if (parallel) pool_taken = pool->take_for_one_file();
  Xxh3 fingerprint;
  StreamChunker chunker(
      params,
      [&](std::span<std::byte> buf) -> Result<size_t> {
        CAIRN_ASSIGN_OR_RETURN(const size_t n, read_some(fd.get(), buf, path));
        fingerprint.update(buf.first(n));
        return n;
      },
      sized ? std::optional<uint64_t>(static_cast<uint64_t>(st.st_size)) : std::nullopt);
  if (parallel) {
    ParallelChunkHasher hasher(*pool, on_chunk);
    while (true) {
      auto next = chunker.next();
      if (!next) {
        hasher.wait();
        return std::move(next).error();
      }
      if (!*next) break;
      hasher.add((*next)->data, (*next)->offset);
      out.size += (*next)->data.size();
    }
    out.manifest = Manifest(hasher.take());
    out.xxh3 = fingerprint.digest();
    return out;
  }
  Sha256 sha;
  while (true) {
    CAIRN_ASSIGN_OR_RETURN(auto next, chunker.next());
    if (!next) break;
    sha.update(next->data);
    const ChunkRef ref{sha.finish(), static_cast<uint32_t>(next->data.size())};
    out.manifest.add(ref);
    if (on_chunk) on_chunk(ref, next->offset, next->data);
    out.size += ref.length;
  }
  out.xxh3 = fingerprint.digest();
  return out;
}

Result<uint64_t> fingerprint_file(const std::string& path) {
  CAIRN_ASSIGN_OR_RETURN(const int raw_fd, open_for_read(path));
  Fd fd(raw_fd);
  Xxh3 fingerprint;
  // Below the client's mmap threshold (1 MiB, cli/main.cpp) and not zeroed: the buffer comes
  // back from the heap on every call. A zeroed 1 MiB one was a fresh mapping each time, 256 page
  // faults per file compared (an edited-tree push compares hundreds).
  constexpr size_t kBufferBytes = 256 << 10;
  std::unique_ptr<std::byte[]> buf(new std::byte[kBufferBytes]);
  while (true) {
    CAIRN_ASSIGN_OR_RETURN(const size_t n,
                           read_some(fd.get(), std::span(buf.get(), kBufferBytes), path));
    if (n == 0) break;
    fingerprint.update(std::span<const std::byte>(buf.get(), n));
  }
  return fingerprint.digest();
}

}  // namespace cairn::client
