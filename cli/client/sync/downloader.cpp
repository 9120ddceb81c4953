#include "cli/client/sync/downloader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <thread>
#include <unordered_set>

#include "common/file_io.h"
#include "common/pack.h"

namespace cairn::client {
namespace {

// Downloads in progress live in 16 folders under .cairn/tmp: thousands of files created at once
// by several threads in one folder contend for that folder's lock. A profile of a clone of 10,000
// files showed most of its time in the kernel, on ext4's directory lock and inode search; with 16
// folders three clones took 4.2-5.2 s, with one 3.0-8.8 s (this disk is noisy).
constexpr int kTempShards = 16;

// The process's umask, from /proc (umask(2) reads it only by setting it, for a moment, under the
// other threads); -1 if unknown.
int process_umask() {
  static const int mask = [] {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("Umask:", 0) != 0) continue;
      try {
        return std::stoi(line.substr(6), nullptr, 8);
      } catch (const std::exception&) {
        return -1;
      }
    }
    return -1;
  }();
  return mask;
}

// True if the local path still looks the way the plan saw it.
bool unchanged_since_plan(const std::string& root, const DownloadJob& job) {
  auto now = stat_entry(root, job.rel);
  if (!now) return job.expected == nullptr && now.error().code() == ErrorCode::kNotFound;
  if (!job.expected) return false;
  const auto& e = *job.expected;
  return same_stat(*now, e);
}

}  // namespace

uint64_t next_temp_number() {
  static std::atomic<uint64_t> counter{1};
  return counter.fetch_add(1, std::memory_order_relaxed);
}

std::string temp_path(const std::string& state_dir, uint64_t n) {
  // Unique within this process by the number and across processes by the random prefix (and
  // O_EXCL at creation checks it): no call into the CSPRNG, which costs two system calls, per file.
  static const std::string prefix = to_hex(secure_random(8));
  return state_dir + "/tmp/" + std::to_string(n % kTempShards) + "/" + prefix + "-" +
         std::to_string(n) + ".part";
}

std::string temp_path(const std::string& state_dir) {
  return temp_path(state_dir, next_temp_number());
}

Result<void> make_temp_shards(const std::string& state_dir) {
  for (int shard = 0; shard < kTempShards; ++shard) {
    const std::string dir = state_dir + "/tmp/" + std::to_string(shard);
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return errno_error("create " + dir);
    }
  }
  return {};
}

void Downloader::run(TransferPool& pool, uint32_t max_batch) {
  // Every manifest once, many per request.
  std::vector<Digest> addresses;
  {
    std::unordered_set<Digest> seen;
    for (const auto& job : jobs_) {
      const auto& address = job->entry->manifest;
      if (address && seen.insert(*address).second) addresses.push_back(*address);
    }
  }
  const size_t batch = std::max<uint32_t>(1, max_batch);
  std::vector<Result<std::unordered_map<Digest, Bytes>>> fetched(
      (addresses.size() + batch - 1) / batch, std::unordered_map<Digest, Bytes>());
  pool.for_each(fetched.size(), [&](ApiClient& client, size_t i) {
    const auto first = addresses.begin() + static_cast<long>(i * batch);
    const auto last =
        addresses.begin() + static_cast<long>(std::min(addresses.size(), (i + 1) * batch));
    fetched[i] = client.manifests(std::vector<Digest>(first, last));
  });
  for (auto& f : fetched) {
    if (!f) {
      manifest_error_ = f.error().message();
      continue;
    }
    for (auto& [address, body] : *f) manifests_.emplace(address, std::move(body));
  }
  fetched = {};
  pool.for_each(jobs_.size(), [&](ApiClient&, size_t i) { prepare(*jobs_[i]); });
  manifests_ = {};  // Decoded into the jobs: the encoded bodies are not needed again.

  // Distinct chunks in first-use order, with every (job, offset) that needs each.
  for (auto& job : jobs_) {
    if (job->failed.load() || job->done) continue;
    uint64_t offset = 0;
    for (const auto& c : job->manifest.chunks()) {
      auto [it, inserted] = index_.emplace(c.hash, slots_.size());
      if (inserted) slots_.push_back({c, {}});
      slots_[it->second].targets.push_back({job.get(), offset});
      offset += c.length;
    }
  }

  // Chunks some local file already holds cost no network: where each may be, from one read
  // of the local state, then the candidates read and hashed on all threads.
  std::unordered_map<Digest, ChunkLocation> local;
  if (locator_) {
    std::vector<Digest> hashes;
    hashes.reserve(slots_.size());
    for (const auto& slot : slots_) hashes.push_back(slot.chunk.hash);
    // Unreadable, the local state only costs the reuse: everything is downloaded.
    if (auto found = locator_->find_all(hashes)) local = std::move(*found);
  }
  std::vector<size_t> remote;
  std::vector<size_t> candidates;
  for (size_t i = 0; i < slots_.size(); ++i) {
    (local.count(slots_[i].chunk.hash) != 0 ? candidates : remote).push_back(i);
  }
  std::mutex remote_mu;
  pool.for_each(candidates.size(), [&](ApiClient&, size_t c) {
    thread_local Bytes bytes;
    Slot& slot = slots_[candidates[c]];
    if (reuse_local(slot.chunk, local.at(slot.chunk.hash), bytes)) {
      reused_.fetch_add(1);
      deliver(slot, bytes, "", false);
      return;
    }
    std::lock_guard lock(remote_mu);
    remote.push_back(candidates[c]);
  });
  std::sort(remote.begin(), remote.end());  // First-use order: neighbours stay together.

  // Where each batch of chunks lies, asked for by all threads at once (the daemon answers a
  // batch in tens of milliseconds: a clone of 60,000 files asks 75 times); the reads are then
  // kept in batch order, which is first-use order.
  std::vector<std::vector<protocol::ChunkRead>> located_reads((remote.size() + batch - 1) / batch);
  pool.for_each(located_reads.size(), [&](ApiClient& client, size_t b) {
    const size_t begin = b * batch;
    const size_t end = std::min(remote.size(), begin + batch);
    protocol::CheckChunksRequest req;
    // With the files' manifests: chunks of a file in a folder shared with us were uploaded by
    // someone else, and the server gives them out for a manifest we may read.
    std::unordered_set<Digest> manifests;
    for (size_t i = begin; i < end; ++i) {
      req.chunks.push_back(slots_[remote[i]].chunk);
      for (const auto& target : slots_[remote[i]].targets) {
        if (const auto& m = target.job->entry->manifest) manifests.insert(*m);
      }
    }
    req.manifests.assign(manifests.begin(), manifests.end());
    auto located = client.locate(req);
    std::unordered_set<Digest> found;
    if (located) {
      for (auto& read : located->reads) {
        for (const auto& part : read.parts) found.insert(part.hash);
        located_reads[b].push_back(std::move(read));
      }
    }
    for (size_t i = begin; i < end; ++i) {
      Slot& slot = slots_[remote[i]];
      if (found.count(slot.chunk.hash) != 0) continue;
      // The server lists the file but cannot say where this chunk is: its bytes are lost
      // there (data that fails verification, exit 7), not a file that does not exist.
      deliver(slot, {},
              located ? "chunk " + slot.chunk.hash.hex() + " is missing on the server"
                      : located.error().message(),
              located.has_value());
    }
  });
  std::vector<protocol::ChunkRead> reads;
  for (auto& batch_reads : located_reads) {
    std::move(batch_reads.begin(), batch_reads.end(), std::back_inserter(reads));
  }
  located_reads = {};
  pool.for_each(reads.size(), [&](ApiClient& client, size_t i) { fetch(client, reads[i]); });
}

std::string Downloader::temp_of(const DownloadJob& job) const {
  return temp_path(session_.state->state_dir(), job.temp);
}

void Downloader::fail(DownloadJob& job, const std::string& message, ErrorCode code) {
  std::lock_guard lock(errors_mu_);
  if (job.error.empty()) {
    job.error = message;
    job.corrupt = code == ErrorCode::kCorrupt;
    job.no_space = code == ErrorCode::kStorageFull;
  }
  job.failed = true;
}

void Downloader::prepare(DownloadJob& job) {
  const auto& address = job.entry->manifest;
  if (!address) return abandon(job, "server sent a file without a manifest address");
  auto body = manifests_.find(*address);
  if (body == manifests_.end()) {
    return abandon(job, manifest_error_.empty()
                            ? "manifest " + address->hex() + " is not available on the server"
                            : manifest_error_);
  }
  auto manifest = Manifest::decode(body->second);
  if (!manifest) return abandon(job, manifest.error().message());
  if (manifest->total_size() != job.entry->size) {
    return abandon(job, "manifest size does not match the listing");
  }
  job.manifest = std::move(*manifest);
  job.temp = next_temp_number();
  job.whole = job.manifest.chunks().size() <= 1;
  if (!job.whole) {
    const int fd = ::open(temp_of(job).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
      const Error e = errno_error("create temp file");
      return abandon(job, e.message(), e.code());
    }
    const bool sized = ::ftruncate(fd, static_cast<off_t>(job.entry->size)) == 0;
    const Error size_error = errno_error("allocate");
    ::close(fd);
    if (!sized) return abandon(job, size_error.message(), size_error.code());
  }
  job.remaining.store(job.manifest.chunks().size());
  if (job.manifest.chunks().empty()) {
    if (auto w = write_whole(job, {}); !w)
      return abandon(job, w.error().message(), w.error().code());
    finalize(job);
  }
}

bool Downloader::reuse_local(const ChunkRef& chunk, const ChunkLocation& at, Bytes& buffer) {
  if (at.length != chunk.length) return false;
  const std::string path = session_.root + "/" + at.path;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return false;
  buffer.resize(chunk.length);
  auto n = pread_full(fd, buffer.data(), chunk.length, at.offset);
  ::close(fd);
  // The local file may have changed since it was recorded: trust only what hashes right.
  return n && *n == chunk.length && sha256(buffer) == chunk.hash;
}

void Downloader::fetch(ApiClient& client, const protocol::ChunkRead& read, int relocations) {
  // Buffers per worker thread, reused for every read it performs.
  thread_local Bytes stored;
  thread_local Bytes chunk;
  auto got = client.read_into(read, stored);
  if (!got && relocations > 0 && read.parts.size() > 1 && relocate(client, read, relocations - 1)) {
    return;
  }
  for (const auto& part : read.parts) {
    auto it = index_.find(part.hash);
    if (it == index_.end()) continue;  // Not asked for: ignore.
    Slot& slot = slots_[it->second];
    if (slot.delivered.exchange(true)) continue;  // Listed twice: the first one counts.
    if (!got) {
      deliver(slot, {}, got.error().message(), got.error().code() == ErrorCode::kCorrupt);
      continue;
    }
    const std::string name = "chunk " + part.hash.hex();
    if (part.offset > stored.size() || part.stored_length > stored.size() - part.offset) {
      deliver(slot, {}, name + " lies outside what the server sent", true);
      continue;
    }
    auto decoded = decode_chunk(
        part.codec, ByteView(stored).subspan(part.offset, part.stored_length), part.length, chunk);
    if (!decoded || chunk.size() != slot.chunk.length || sha256(chunk) != slot.chunk.hash) {
      deliver(slot, {}, name + " failed verification", true);
      continue;
    }
    received_.fetch_add(1);
    received_bytes_.fetch_add(slot.chunk.length);
    deliver(slot, chunk, "", false);
  }
}

bool Downloader::relocate(ApiClient& client, const protocol::ChunkRead& failed, int relocations) {
  protocol::CheckChunksRequest req;
  std::unordered_set<Digest> manifests;
  std::vector<Slot*> waiting;
  for (const auto& part : failed.parts) {
    auto it = index_.find(part.hash);
    if (it == index_.end() || slots_[it->second].delivered.load()) continue;
    Slot& slot = slots_[it->second];
    waiting.push_back(&slot);
    req.chunks.push_back(slot.chunk);
    for (const auto& target : slot.targets) {
      if (const auto& m = target.job->entry->manifest) manifests.insert(*m);
    }
  }
  req.manifests.assign(manifests.begin(), manifests.end());
  auto located = client.locate(req);
  if (!located) return false;
  for (const auto& read : located->reads) fetch(client, read, relocations);
  for (Slot* slot : waiting) {
    if (slot->delivered.load()) continue;
    deliver(*slot, {}, "chunk " + slot->chunk.hash.hex() + " is missing on the server", true);
  }
  return true;
}

void Downloader::deliver(Slot& slot, ByteView bytes, const std::string& error, bool corrupt) {
  slot.delivered = true;
  for (const Target& t : slot.targets) {
    if (error.empty() && !t.job->failed.load()) {
      if (auto w = t.job->whole ? write_whole(*t.job, bytes)
                                : write_at(temp_of(*t.job), t.offset, bytes);
          !w) {
        fail(*t.job, w.error().message(), w.error().code());
      }
    } else if (!error.empty()) {
      fail(*t.job, error, corrupt ? ErrorCode::kCorrupt : ErrorCode::kIo);
    }
    progress_.bytes_done.fetch_add(slot.chunk.length, std::memory_order_relaxed);
    if (t.job->remaining.fetch_sub(1) == 1) {
      if (t.job->failed.load()) {
        abandon(*t.job, t.job->error, t.job->no_space ? ErrorCode::kStorageFull : ErrorCode::kIo);
      } else {
        finalize(*t.job);
      }
    }
  }
}

Result<void> Downloader::write_at(const std::string& path, uint64_t offset, ByteView bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno_error("open");
  return write_and_close(fd, offset, bytes, nullptr);
}

Result<void> Downloader::write_whole(const DownloadJob& job, ByteView bytes) const {
  // Created with its mode when the umask leaves that whole (0644 under 022, say): one fchmod
  // less per file. Otherwise private first, then exactly the server's bits.
  const mode_t mode = file_mode(job);
  const int mask = process_umask();
  const bool exact =
      mask >= 0 && (mode & ~mode_t{0777}) == 0 && (mode & static_cast<mode_t>(mask)) == 0;
  const int fd =
      ::open(temp_of(job).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, exact ? mode : 0600);
  if (fd < 0) {
    return errno_error("create temp file");
  }
  if (!exact && ::fchmod(fd, mode) != 0) {
    const int err = errno;
    ::close(fd);
    return errno_error("set mode", err);
  }
  struct timespec times[2];
  return write_and_close(fd, 0, bytes, file_times(job, times) ? times : nullptr);
}

Result<void> Downloader::write_and_close(int fd, uint64_t offset, ByteView bytes,
                                         const struct timespec* times) {
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::pwrite(fd, bytes.data() + written, bytes.size() - written,
                               static_cast<off_t>(offset + written));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      return errno_error("write", err);
    }
    written += static_cast<size_t>(n);
  }
  if (times != nullptr && ::futimens(fd, times) != 0) {
    const int err = errno;
    ::close(fd);
    return errno_error("set times", err);
  }
  ::close(fd);
  return {};
}

mode_t Downloader::file_mode(const DownloadJob& job) {
  return static_cast<mode_t>(job.entry->mode & protocol::kPermissionBits);
}

bool Downloader::file_times(const DownloadJob& job, struct timespec (&times)[2]) {
  if (job.entry->mtime_ns <= 0) return false;
  times[0].tv_sec = 0;
  times[0].tv_nsec = UTIME_OMIT;
  times[1].tv_sec = static_cast<time_t>(job.entry->mtime_ns / 1000000000);
  times[1].tv_nsec = static_cast<long>(job.entry->mtime_ns % 1000000000);
  return true;
}

void Downloader::abandon(DownloadJob& job, const std::string& message, ErrorCode code) {
  if (job.temp != 0) ::unlink(temp_of(job).c_str());
  fail(job, message, code);
  progress_.files_done.fetch_add(1);
}

void Downloader::finalize(DownloadJob& job) {
  if (!job.whole) {
    const std::string temp = temp_of(job);
    ::chmod(temp.c_str(), file_mode(job));
    struct timespec times[2];
    if (file_times(job, times)) ::utimensat(AT_FDCWD, temp.c_str(), times, 0);
  }
  progress_.files_done.fetch_add(1);
  std::lock_guard lock(rename_mu_);
  written_.push_back(&job);
  written_bytes_ += job.entry->size;
  if (written_.size() >= kDurableBatchFiles || written_bytes_ >= kDurableBatchBytes) {
    put_in_place_locked();  // Already under rename_mu_ (it is not recursive).
  }
}

void Downloader::put_in_place() {
  std::lock_guard lock(rename_mu_);
  put_in_place_locked();
}

void Downloader::put_in_place_locked() {
  if (written_.empty()) return;
  const int fd = ::open(session_.state->state_dir().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const bool durable = fd >= 0 && ::syncfs(fd) == 0;
  const std::string why = durable ? "" : std::strerror(errno);
  if (fd >= 0) ::close(fd);
  for (DownloadJob* job : written_) place(*job, durable ? nullptr : &why);
  written_.clear();
  written_bytes_ = 0;
}

void Downloader::place(DownloadJob& job, const std::string* not_durable) {
  const std::string temp = temp_of(job);
  if (not_durable != nullptr) {
    ::unlink(temp.c_str());
    fail(job, "cannot make the download durable: " + *not_durable);
    return;
  }
  // A local edit made during the pull wins. Where the plan saw nothing, the rename itself refuses
  // to replace what appeared since; otherwise the file is stat'ed again right before it is
  // replaced.
  const bool absent = job.expected == nullptr;
  const auto keep_local = [&] {
    ::unlink(temp.c_str());
    job.conflict = true;
    job.error = "changed locally during the pull; kept the local version";
  };
  if (!absent && !unchanged_since_plan(session_.root, job)) return keep_local();
  // Through the tree, never through a symlink in it; its parents made as needed.
  if (auto placed = tree_.place(temp, job.rel, /*replace=*/!absent); !placed) {
    if (placed.error().code() == ErrorCode::kAlreadyExists) return keep_local();
    ::unlink(temp.c_str());
    fail(job, "cannot write: " + placed.error().message(), placed.error().code());
    return;
  }
  auto st = stat_entry(session_.root, job.rel);
  if (st) job.final_stat = *st;
  job.done = true;
}

}  // namespace cairn::client
