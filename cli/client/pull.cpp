#include "cli/client/pull.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "cli/client/file_hasher.h"
#include "cli/client/ignore.h"
#include "cli/client/local_tree.h"
#include "cli/client/progress.h"
#include "cli/client/scanner.h"
#include "common/conflict_name.h"
#include "common/pack.h"
#include "common/remote_path.h"

namespace cairn::client {
namespace {

namespace fs = std::filesystem;
using protocol::Entry;
using protocol::NodeKind;

struct DownloadJob {
  std::string rel;
  Entry entry;
  std::optional<LocalEntry> expected;  // The local entry as planned over (nullopt: absent).
  // Filled in by the downloader:
  Manifest manifest;
  std::string temp_path;
  std::atomic<size_t> remaining{0};
  std::atomic<bool> failed{false};
  std::mutex error_mu;
  std::string error;
  bool corrupt = false;  // The error is data that failed verification.
  bool conflict = false;
  bool done = false;
  // A file of one chunk (or none) is written whole when its chunk arrives: one open with its
  // final mode and times, instead of creating, sizing and reopening it.
  bool whole = false;
  LocalEntry final_stat;
};

// Chunks located per request; the server's max_batch is at least this.
constexpr uint32_t kLocateBatch = 1000;

// Downloads in progress live in 16 folders under .cairn/tmp: thousands of files created at once
// by several threads in one folder contend for that folder's lock. A profile of a clone of 10,000
// files showed most of its time in the kernel, on ext4's directory lock and inode search; with 16
// folders three clones took 4.2-5.2 s, with one 3.0-8.8 s (this disk is noisy).
constexpr int kTempShards = 16;

// A fresh temporary path for a download into the working copy whose state lives in `state_dir`.
std::string temp_path(const std::string& state_dir) {
  // Unique within this process by the counter and across processes by the random prefix (and
  // O_EXCL at creation checks it): no call into the CSPRNG, which costs two system calls, per file.
  static const std::string prefix = to_hex(secure_random(8));
  static std::atomic<uint64_t> counter{0};
  const uint64_t n = counter.fetch_add(1, std::memory_order_relaxed);
  return state_dir + "/tmp/" + std::to_string(n % kTempShards) + "/" + prefix + "-" +
         std::to_string(n) + ".part";
}

Result<void> make_temp_shards(const std::string& state_dir) {
  for (int shard = 0; shard < kTempShards; ++shard) {
    const std::string dir = state_dir + "/tmp/" + std::to_string(shard);
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return make_error(ErrorCode::kIo, "create " + dir + ": " + std::strerror(errno));
    }
  }
  return {};
}

// True if the local path still looks the way the plan saw it.
bool unchanged_since_plan(const std::string& root, const DownloadJob& job) {
  auto now = stat_entry(root, job.rel);
  if (!now) return !job.expected.has_value() && now.error().code() == ErrorCode::kNotFound;
  if (!job.expected) return false;
  const auto& e = *job.expected;
  return same_stat(*now, e);
}

// Runs `work(i)` for i in [0, n) on `threads` threads, each with its own API client.
template <typename F>
void parallel_for(size_t n, int threads, const ApiClient& prototype, F&& work) {
  std::atomic<size_t> next{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, client = prototype.clone()] {
      while (true) {
        const size_t i = next.fetch_add(1);
        if (i >= n) return;
        work(*client, i);
      }
    });
  }
  for (auto& t : pool) t.join();
}

// Downloads files in phases so that each distinct chunk crosses the wire at most once per pull:
// (1) fetch every manifest and create the temporary files, (2) group chunk slots by hash,
// (3) copy each chunk a local file already has, (4) ask the server where the rest are, which
// answers with reads that return many neighbouring chunks of a pack at once, and (5) perform those
// reads in parallel, decoding and verifying every chunk and writing it into every slot that
// needs it. A file is renamed into place when its last slot is written. Temporary files are
// opened per write, so thousands of files sharing one chunk never exhaust file descriptors.
class Downloader {
 public:
  // `tree` is used under the downloader's lock while it runs, and by nobody else meanwhile.
  Downloader(Session& session, LocalTree& tree, std::vector<std::unique_ptr<DownloadJob>>& jobs,
             Progress& progress)
      : session_(session), tree_(tree), jobs_(jobs), progress_(progress) {
    auto locator = ChunkLocator::open(session.root);
    if (locator && !(*locator)->empty()) locator_ = std::move(*locator);
  }

  void run(ApiClient& api, int threads, uint32_t max_batch) {
    // Every manifest once, many per request.
    std::vector<Digest> addresses;
    {
      std::unordered_set<Digest> seen;
      for (const auto& job : jobs_) {
        auto address = Digest::from_hex(job->entry.manifest);
        if (address && seen.insert(*address).second) addresses.push_back(*address);
      }
    }
    const size_t batch = std::max<uint32_t>(1, max_batch);
    std::vector<Result<std::unordered_map<Digest, Bytes>>> fetched(
        (addresses.size() + batch - 1) / batch, std::unordered_map<Digest, Bytes>());
    parallel_for(fetched.size(), threads, api, [&](ApiClient& client, size_t i) {
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
    parallel_for(jobs_.size(), threads, api, [&](ApiClient&, size_t i) { prepare(*jobs_[i]); });

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

    // Chunks some local file already holds cost no network.
    std::mutex remote_mu;
    std::vector<size_t> remote;
    parallel_for(slots_.size(), threads, api, [&](ApiClient&, size_t i) {
      thread_local Bytes bytes;
      if (reuse_local(slots_[i].chunk, bytes)) {
        reused_.fetch_add(1);
        deliver(slots_[i], bytes, "", false);
        return;
      }
      std::lock_guard lock(remote_mu);
      remote.push_back(i);
    });
    std::sort(remote.begin(), remote.end());  // First-use order: neighbours stay together.

    std::vector<protocol::ChunkRead> reads;
    for (size_t begin = 0; begin < remote.size(); begin += batch) {
      const size_t end = std::min(remote.size(), begin + batch);
      protocol::CheckChunksRequest req;
      // With the files' manifests: chunks of a file in a folder shared with us were uploaded by
      // someone else, and the server gives them out for a manifest we may read.
      std::unordered_set<Digest> manifests;
      for (size_t i = begin; i < end; ++i) {
        req.chunks.push_back(slots_[remote[i]].chunk);
        for (const auto& target : slots_[remote[i]].targets) {
          if (auto m = Digest::from_hex(target.job->entry.manifest)) manifests.insert(*m);
        }
      }
      req.manifests.assign(manifests.begin(), manifests.end());
      auto located = api.locate(req);
      std::unordered_set<Digest> found;
      if (located) {
        for (auto& read : located->reads) {
          for (const auto& part : read.parts) found.insert(part.hash);
          reads.push_back(std::move(read));
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
    }
    parallel_for(reads.size(), threads, api,
                 [&](ApiClient& client, size_t i) { fetch(client, reads[i]); });
  }

  uint64_t reused() const { return reused_.load(); }
  uint64_t received() const { return received_.load(); }
  uint64_t received_bytes() const { return received_bytes_.load(); }

 private:
  struct Target {
    DownloadJob* job;
    uint64_t offset;
  };
  struct Slot {
    Slot(ChunkRef c, std::vector<Target> t) : chunk(c), targets(std::move(t)) {}
    Slot(Slot&& other) noexcept
        : chunk(other.chunk),
          targets(std::move(other.targets)),
          delivered(other.delivered.load()) {}
    ChunkRef chunk;
    std::vector<Target> targets;
    std::atomic<bool> delivered{false};
  };

  void fail(DownloadJob& job, const std::string& message, bool corrupt = false) {
    std::lock_guard lock(job.error_mu);
    if (job.error.empty()) {
      job.error = message;
      job.corrupt = corrupt;
    }
    job.failed = true;
  }

  void prepare(DownloadJob& job) {
    auto address = Digest::from_hex(job.entry.manifest);
    if (!address) return abandon(job, "server sent a bad manifest address");
    auto body = manifests_.find(*address);
    if (body == manifests_.end()) {
      return abandon(job, manifest_error_.empty()
                              ? "manifest " + address->hex() + " is not available on the server"
                              : manifest_error_);
    }
    auto manifest = Manifest::decode(body->second);
    if (!manifest) return abandon(job, manifest.error().message());
    if (manifest->total_size() != job.entry.size) {
      return abandon(job, "manifest size does not match the listing");
    }
    job.manifest = std::move(*manifest);
    job.temp_path = temp_path(session_.state->state_dir());
    job.whole = job.manifest.chunks().size() <= 1;
    if (!job.whole) {
      const int fd = ::open(job.temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (fd < 0) return abandon(job, std::string("create temp file: ") + std::strerror(errno));
      const bool sized = ::ftruncate(fd, static_cast<off_t>(job.entry.size)) == 0;
      ::close(fd);
      if (!sized) return abandon(job, std::string("allocate: ") + std::strerror(errno));
    }
    job.remaining.store(job.manifest.chunks().size());
    if (job.manifest.chunks().empty()) {
      if (auto w = write_whole(job, {}); !w) return abandon(job, w.error().message());
      finalize(job);
    }
  }

  bool reuse_local(const ChunkRef& chunk, Bytes& buffer) {
    if (!locator_) return false;
    auto loc = locator_->find(chunk.hash);
    if (!loc || loc->length != chunk.length) return false;
    const std::string path = session_.root + "/" + loc->path;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return false;
    buffer.resize(chunk.length);
    const ssize_t n = ::pread(fd, buffer.data(), chunk.length, static_cast<off_t>(loc->offset));
    ::close(fd);
    // The local file may have changed since it was recorded: trust only what hashes right.
    return n == static_cast<ssize_t>(chunk.length) && sha256(buffer) == chunk.hash;
  }

  // Performs one read and hands each chunk in it, decoded and verified, to its slot.
  void fetch(ApiClient& client, const protocol::ChunkRead& read, bool again = true) {
    // Buffers per worker thread, reused for every read it performs.
    thread_local Bytes stored;
    thread_local Bytes chunk;
    auto got = client.read_into(read, stored);
    if (!got && again && read.parts.size() > 1 && relocate(client, read)) return;
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
      auto decoded =
          decode_chunk(part.codec, ByteView(stored).subspan(part.offset, part.stored_length),
                       part.length, chunk);
      if (!decoded || chunk.size() != slot.chunk.length || sha256(chunk) != slot.chunk.hash) {
        deliver(slot, {}, name + " failed verification", true);
        continue;
      }
      received_.fetch_add(1);
      received_bytes_.fetch_add(slot.chunk.length);
      deliver(slot, chunk, "", false);
    }
  }

  // After a read of several chunks failed: the server refuses a read that holds a chunk it found
  // damaged (and sets that chunk aside), so the others are located again and read once more,
  // without it. False if even locating fails (the read's own error then stands).
  bool relocate(ApiClient& client, const protocol::ChunkRead& failed) {
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
        if (auto m = Digest::from_hex(target.job->entry.manifest)) manifests.insert(*m);
      }
    }
    req.manifests.assign(manifests.begin(), manifests.end());
    auto located = client.locate(req);
    if (!located) return false;
    for (const auto& read : located->reads) fetch(client, read, /*again=*/false);
    for (Slot* slot : waiting) {
      if (slot->delivered.load()) continue;
      deliver(*slot, {}, "chunk " + slot->chunk.hash.hex() + " is missing on the server", true);
    }
    return true;
  }

  // Writes a chunk's bytes into every slot that needs it, or fails them all with `error`.
  void deliver(Slot& slot, ByteView bytes, const std::string& error, bool corrupt) {
    slot.delivered = true;
    for (const Target& t : slot.targets) {
      if (error.empty() && !t.job->failed.load()) {
        if (auto w = t.job->whole ? write_whole(*t.job, bytes)
                                  : write_at(t.job->temp_path, t.offset, bytes);
            !w) {
          fail(*t.job, w.error().message());
        }
      } else if (!error.empty()) {
        fail(*t.job, error, corrupt);
      }
      progress_.bytes_done.fetch_add(slot.chunk.length, std::memory_order_relaxed);
      if (t.job->remaining.fetch_sub(1) == 1) {
        if (t.job->failed.load()) {
          abandon(*t.job, t.job->error);
        } else {
          finalize(*t.job);
        }
      }
    }
  }

  static Result<void> write_at(const std::string& path, uint64_t offset, ByteView bytes) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return make_error(ErrorCode::kIo, std::string("open: ") + std::strerror(errno));
    return write_and_close(fd, offset, bytes, nullptr);
  }

  // Creates the job's temporary file with its final mode, writes all of it and sets its times.
  Result<void> write_whole(const DownloadJob& job, ByteView bytes) const {
    const int fd = ::open(job.temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
      return make_error(ErrorCode::kIo, std::string("create temp file: ") + std::strerror(errno));
    }
    if (::fchmod(fd, file_mode(job)) != 0) {
      const int err = errno;
      ::close(fd);
      return make_error(ErrorCode::kIo, std::string("set mode: ") + std::strerror(err));
    }
    struct timespec times[2];
    return write_and_close(fd, 0, bytes, file_times(job, times) ? times : nullptr);
  }

  // Writes `bytes` at `offset`, then sets the modification time if `times` is given, then closes.
  static Result<void> write_and_close(int fd, uint64_t offset, ByteView bytes,
                                      const struct timespec* times) {
    size_t written = 0;
    while (written < bytes.size()) {
      const ssize_t n = ::pwrite(fd, bytes.data() + written, bytes.size() - written,
                                 static_cast<off_t>(offset + written));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        const int err = errno;
        ::close(fd);
        return make_error(ErrorCode::kIo, std::string("write: ") + std::strerror(err));
      }
      written += static_cast<size_t>(n);
    }
    if (times != nullptr && ::futimens(fd, times) != 0) {
      const int err = errno;
      ::close(fd);
      return make_error(ErrorCode::kIo, std::string("set times: ") + std::strerror(err));
    }
    ::close(fd);
    return {};
  }

  // The server's permission bits, exactly: a 600 file stays private whatever the umask here.
  static mode_t file_mode(const DownloadJob& job) {
    return static_cast<mode_t>(job.entry.mode & protocol::kPermissionBits);
  }

  // The access time left alone, the modification time the server recorded; false if none.
  static bool file_times(const DownloadJob& job, struct timespec (&times)[2]) {
    if (job.entry.mtime_ns <= 0) return false;
    times[0].tv_sec = 0;
    times[0].tv_nsec = UTIME_OMIT;
    times[1].tv_sec = static_cast<time_t>(job.entry.mtime_ns / 1000000000);
    times[1].tv_nsec = static_cast<long>(job.entry.mtime_ns % 1000000000);
    return true;
  }

  void abandon(DownloadJob& job, const std::string& message) {
    if (!job.temp_path.empty()) ::unlink(job.temp_path.c_str());
    fail(job, message);
    progress_.files_done.fetch_add(1);
  }

  void finalize(DownloadJob& job) {
    if (!job.whole) {
      ::chmod(job.temp_path.c_str(), file_mode(job));
      struct timespec times[2];
      if (file_times(job, times)) ::utimensat(AT_FDCWD, job.temp_path.c_str(), times, 0);
    }
    progress_.files_done.fetch_add(1);
    std::lock_guard lock(rename_mu_);
    written_.push_back(&job);
    written_bytes_ += job.entry.size;
    if (written_.size() >= kDurableBatchFiles || written_bytes_ >= kDurableBatchBytes) {
      put_in_place_locked();  // Already under rename_mu_ (it is not recursive).
    }
  }

 public:
  // Puts every file written so far in place. The bytes are made durable first, all at once:
  // a rename that reached the disk before the data would leave an empty or short file where a
  // good one was, which the next push would send as a new version. One syncfs(2) for a batch of
  // files costs what one fsync does, where an fsync per file made a pull of many small files
  // several times slower.
  void put_in_place() {
    std::lock_guard lock(rename_mu_);
    put_in_place_locked();
  }

 private:
  static constexpr size_t kDurableBatchFiles = 2000;
  static constexpr uint64_t kDurableBatchBytes = 256u << 20;

  void put_in_place_locked() {
    if (written_.empty()) return;
    const int fd = ::open(session_.state->state_dir().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    const bool durable = fd >= 0 && ::syncfs(fd) == 0;
    const std::string why = durable ? "" : std::strerror(errno);
    if (fd >= 0) ::close(fd);
    for (DownloadJob* job : written_) place(*job, durable ? nullptr : &why);
    written_.clear();
    written_bytes_ = 0;
  }

  // Under rename_mu_.
  void place(DownloadJob& job, const std::string* not_durable) {
    if (not_durable != nullptr) {
      ::unlink(job.temp_path.c_str());
      fail(job, "cannot make the download durable: " + *not_durable);
      return;
    }
    // Re-stat right before the replace: a local edit made during the pull wins.
    if (!unchanged_since_plan(session_.root, job)) {
      ::unlink(job.temp_path.c_str());
      job.conflict = true;
      job.error = "changed locally during the pull; kept the local version";
      return;
    }
    // Through the tree, never through a symlink in it; its parents made as needed.
    if (auto placed = tree_.place(job.temp_path, job.rel); !placed) {
      ::unlink(job.temp_path.c_str());
      fail(job, "cannot write: " + placed.error().message());
      return;
    }
    auto st = stat_entry(session_.root, job.rel);
    if (st) job.final_stat = *st;
    job.done = true;
  }

  Session& session_;
  LocalTree& tree_;  // Under rename_mu_.
  std::vector<std::unique_ptr<DownloadJob>>& jobs_;
  Progress& progress_;
  std::unique_ptr<ChunkLocator> locator_;
  std::vector<Slot> slots_;
  std::unordered_map<Digest, size_t> index_;
  std::unordered_map<Digest, Bytes> manifests_;  // Filled before the parallel phases read it.
  std::string manifest_error_;
  std::mutex rename_mu_;
  std::vector<DownloadJob*>
      written_;                 // Complete in .cairn/tmp, not in place yet. Under rename_mu_.
  uint64_t written_bytes_ = 0;  // Their size. Under rename_mu_.
  std::atomic<uint64_t> reused_{0};
  std::atomic<uint64_t> received_{0};
  std::atomic<uint64_t> received_bytes_{0};
};

BaseRecord base_for(const std::string& root, const std::string& rel, const Entry& e,
                    const LocalEntry& st) {
  BaseRecord b = base_from_stat(st, e.version, e.node_id);
  b.path = rel;
  b.kind = e.kind;
  b.manifest = e.manifest;
  b.target = e.symlink_target;
  if (b.kind == NodeKind::kFile && b.mtime_ns == 0) {
    // Racily clean (scanner.h): its content is what later looks compare.
    if (auto fp = fingerprint_file(root + "/" + rel)) b.xxh3 = *fp;
  }
  return b;
}

// Moves files to the trash and removes folders once empty, deepest first.
void move_to_trash(LocalTree& tree, const std::string& trash,
                   std::vector<const BaseRecord*> records, BaseChanges& changes,
                   SyncReport& report) {
  std::sort(records.begin(), records.end(),
            [](const BaseRecord* a, const BaseRecord* b) { return a->path > b->path; });
  for (const BaseRecord* b : records) {
    if (b->kind == NodeKind::kFolder) {
      // Its node left this path either way. A folder that cannot go (it holds what was edited
      // or made here) stays as this copy's own, unsynced folder, which the next push sends.
      (void)tree.remove_folder(b->path);
      changes.drop(b->path);
      continue;
    }
    std::error_code ec;
    const std::string dest = trash + "/" + b->path;
    fs::create_directories(fs::path(dest).parent_path(), ec);
    if (ec) {
      report.errors.push_back(b->path + ": cannot move to trash: " + ec.message());
      continue;
    }
    if (auto moved = tree.move_out(b->path, dest); !moved) {
      report.errors.push_back(b->path + ": cannot move to trash: " + moved.error().message());
      continue;
    }
    changes.drop(b->path);
    ++report.files_deleted;
    report.deleted.push_back(b->path);
  }
}

std::string trash_folder(const std::string& state_dir) {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%d-%H%M%S", &tm);
  return state_dir + "/trash/" + buf;
}

bool under(const std::string& path, const std::string& prefix) {
  return path.size() > prefix.size() && path.compare(0, prefix.size(), prefix) == 0 &&
         path[prefix.size()] == '/';
}

size_t depth_of(const std::string& rel) {
  return static_cast<size_t>(std::count(rel.begin(), rel.end(), '/'));
}

// Renames local paths for nodes the server moved, shallowest target first, and rewrites their
// base records (and those of everything under a moved folder). A move that cannot be done here
// (the old path is gone, the new one is taken) is left to the plan: the node is then fetched at
// its new path like a new file, and what is in the way is handled as a conflict.
//
// A node whose old local path is gone (deleted here) has its records moved all the same: this
// copy still knows it, now at its new path, and the next push deletes it there. Returns the
// remote paths of the folders that could not be moved here (their new path is taken): they are
// fetched anew, like folders moved in from outside.
std::vector<std::string> apply_moves(Session& session, LocalTree& tree,
                                     const std::map<int64_t, Entry>& changed,
                                     std::map<std::string, BaseRecord>& base, BaseChanges& changes,
                                     SyncReport& report) {
  std::vector<std::string> unmoved;
  std::map<int64_t, std::string> path_of;
  for (const auto& [path, b] : base) {
    if (b.node_id != 0) path_of[b.node_id] = path;
  }
  std::set<int64_t> given_up;  // Moves that cannot be made here: not tried again.
  // In rounds, until every node the feed names is where it says: a folder's move takes all it
  // holds along, and what the feed places elsewhere is moved again in the next round (a file
  // that stayed while its old folder moved away, a folder moved out of one that moved).
  for (int round = 0; round < 8; ++round) {
    std::vector<std::pair<std::string, int64_t>> moves;
    for (const auto& [node, e] : changed) {
      if (e.deleted || given_up.count(node) != 0) continue;
      auto rel = session.to_local(e.path);
      auto known = path_of.find(node);
      if (!rel || rel->empty() || known == path_of.end() || known->second == *rel) continue;
      moves.emplace_back(*rel, node);
    }
    if (moves.empty()) break;
    std::sort(moves.begin(), moves.end(), [](const auto& a, const auto& b) {
      return std::make_pair(depth_of(a.first), a.first) <
             std::make_pair(depth_of(b.first), b.first);
    });
    size_t applied = 0;
    std::vector<int64_t> into_itself;
    for (const auto& [to, node] : moves) {
      const std::string from = path_of[node];
      if (from == to) continue;
      if (under(to, from)) {
        // Into itself, as things are here: what is inside moves out first, and this one in a
        // later round. (A folder swapped with one it held never gets there: fetched anew.)
        into_itself.push_back(node);
        continue;
      }
      ++applied;
      const bool folder = base.at(from).kind == NodeKind::kFolder;
      struct stat st {};
      const bool here = ::lstat((session.root + "/" + from).c_str(), &st) == 0;
      if (here) {
        // Only if the new path is free (the rename refuses to replace).
        if (!tree.rename(from, to)) {
          given_up.insert(node);
          if (folder) unmoved.push_back(changed.at(node).path);
          continue;
        }
        report.moved.push_back(from + " -> " + to);
      } else if (base.count(to) != 0 || !subtree_paths(base, to).empty()) {
        given_up.insert(node);
        continue;  // Another node's records are there: the plan sorts it out.
      }
      std::vector<std::pair<std::string, BaseRecord>> moved;
      for (const auto& old : subtree_paths(base, from)) {
        auto it = base.find(old);
        BaseRecord b = std::move(it->second);
        b.path = to + old.substr(from.size());
        changes.drop(old);
        moved.emplace_back(b.path, std::move(b));
        base.erase(it);
      }
      for (auto& [path, b] : moved) {
        if (b.node_id != 0) path_of[b.node_id] = path;
        changes.put(b);
        base[path] = std::move(b);
      }
    }
    if (applied == 0 || round == 7) {
      for (const int64_t node : into_itself) {
        if (base.at(path_of[node]).kind == NodeKind::kFolder) {
          unmoved.push_back(changed.at(node).path);
        }
      }
      break;
    }
  }
  return unmoved;
}

// Adds what the remote `folders` hold, listed from the server, to `changed`: a folder that
// arrives as one entry of the feed (moved in), or one whose move could not be made here.
Result<void> list_into(ApiClient& api, std::vector<std::string> folders,
                       std::map<int64_t, Entry>& changed) {
  while (!folders.empty()) {
    const std::string folder = std::move(folders.back());
    folders.pop_back();
    CAIRN_ASSIGN_OR_RETURN(auto listing, api.list(folder));
    for (auto& e : listing.entries) {
      if (e.kind == NodeKind::kFolder) folders.push_back(e.path);
      changed.try_emplace(e.node_id, std::move(e));
    }
  }
  return {};
}

// A folder moved into this working copy's folder from outside it arrives as one entry (its
// own): adds what it holds, listed from the server, to `changed`.
Result<void> list_moved_in(ApiClient& api, const Session& session,
                           const std::map<std::string, BaseRecord>& base,
                           std::map<int64_t, Entry>& changed) {
  std::set<int64_t> known;
  for (const auto& [path, b] : base) known.insert(b.node_id);
  std::vector<std::string> folders;
  for (const auto& [node, e] : changed) {
    auto rel = session.to_local(e.path);
    if (e.change == "move" && e.kind == NodeKind::kFolder && !e.deleted && rel && !rel->empty() &&
        known.count(node) == 0) {
      folders.push_back(e.path);
    }
  }
  return list_into(api, std::move(folders), changed);
}

// Renames the local `rel` to a free conflicted-copy name beside it; returns that name.
// A name is free if nothing is there, this copy has no record of it, and nothing of this pull
// arrives there (`arriving`): another device's conflicted copy may carry the very same name
// (devices that share a name, edits in the same second), and must not be set aside in turn.
Result<std::string> set_aside(Session& session, LocalTree& tree, const std::string& rel,
                              const LocalEntry& local,
                              const std::map<std::string, BaseRecord>& base,
                              const std::unordered_set<std::string>& arriving) {
  const size_t slash = rel.rfind('/');
  const std::string folder = slash == std::string::npos ? "" : rel.substr(0, slash + 1);
  const std::string name = slash == std::string::npos ? rel : rel.substr(slash + 1);
  for (int n = 1; n <= 100; ++n) {
    const std::string copy =
        folder + conflicted_copy_name(name, session.endpoint.device, local.mtime_ns, n);
    const std::string abs = session.root + "/" + copy;
    struct stat st {};
    if (::lstat(abs.c_str(), &st) == 0 || base.count(copy) != 0 || arriving.count(copy) != 0) {
      continue;
    }
    auto renamed = tree.rename(rel, copy);
    if (!renamed && renamed.error().code() == ErrorCode::kAlreadyExists) continue;
    if (!renamed) return std::move(renamed).error().with_context("cannot rename");
    return copy;
  }
  return make_error(ErrorCode::kAlreadyExists, "too many conflicted copies");
}

}  // namespace

Result<SyncReport> pull(Session& session, const PullOptions& options, Printer& printer,
                        const std::string& command) {
  const auto started = std::chrono::steady_clock::now();
  SyncReport report;
  report.command = command;
  CAIRN_RETURN_IF_ERROR(session.state->lock_for_writing());
  CAIRN_RETURN_IF_ERROR(make_temp_shards(session.state->state_dir()));
  ApiClient api(session.endpoint);

  // 1. Everything that changed since the cursor, each node once, in its latest state.
  CAIRN_ASSIGN_OR_RETURN(std::string cursor, session.state->setting("cursor"));
  std::map<int64_t, Entry> changed;
  while (true) {
    CAIRN_ASSIGN_OR_RETURN(auto page, api.changes(cursor, 1000));
    for (auto& e : page.changes) changed[e.node_id] = std::move(e);
    cursor = page.cursor;
    if (!page.has_more) break;
  }

  CAIRN_ASSIGN_OR_RETURN(auto base, session.state->load_base());
  // What a .cairnignore here excludes is not pulled either, nor touched if it is here.
  {
    IgnoreRules ignore(session.root);
    std::erase_if(changed, [&](const auto& item) {
      auto rel = session.to_local(item.second.path);
      return rel && !rel->empty() && ignore.ignored(*rel, item.second.kind == NodeKind::kFolder);
    });
  }
  forget_ignored(session.root, base);
  BaseChanges changes;  // In order: for each path the last change wins.
  CAIRN_RETURN_IF_ERROR(list_moved_in(api, session, base, changed));
  // Every path from the server must already be canonical (common/remote_path.h): one that is
  // not (a "..", a ".cairn", from a broken or hostile server) is reported and left alone, and
  // keeps the cursor where it is.
  std::erase_if(changed, [&](const auto& item) {
    auto canonical = normalize_remote_path(item.second.path);
    if (canonical && *canonical == item.second.path) return false;
    report.errors.push_back(
        "the server sent an invalid path '" + item.second.path.substr(0, 200) + "' (" +
        (canonical ? std::string("not canonical") : canonical.error().message()) + "); ignored");
    return true;
  });
  // Every write below goes through `tree`: never outside the working copy, never through a
  // symlink in it.
  LocalTree tree(session.root);

  // 2. Moves on the server become moves here, before anything else: a folder takes its whole
  // subtree along, and a file keeps its bytes (edited here or not), so nothing is downloaded
  // again and no local edit is left behind.
  auto unmoved = apply_moves(session, tree, changed, base, changes, report);
  // A folder that could not be moved here is fetched at its new path, whole; what is left at
  // its old path is handled like anything that left it (below).
  CAIRN_RETURN_IF_ERROR(list_into(api, unmoved, changed));
  std::erase_if(changed, [&](const auto& item) {
    auto canonical = normalize_remote_path(item.second.path);
    return !canonical || *canonical != item.second.path;
  });

  std::map<int64_t, const BaseRecord*> base_by_node;
  for (const auto& [path, b] : base) {
    if (b.node_id != 0) base_by_node[b.node_id] = &b;
  }

  // 3. Plan each change against the base and the local file.
  std::vector<std::unique_ptr<DownloadJob>> downloads;
  std::vector<std::pair<std::string, Entry>> symlinks;
  std::vector<std::pair<std::string, Entry>> folders;
  std::vector<const BaseRecord*> to_trash;
  std::vector<std::pair<std::string, Manifest>> chunk_maps;

  std::optional<protocol::ServerConfig> config;  // Fetched only if a local file must be hashed.
  // Pass 1: nodes that left their old local path (deleted, or moved).
  std::vector<std::pair<std::string, const Entry*>> live;
  // A base path whose node is no longer there: to the trash if unchanged here.
  std::unordered_set<std::string> left;
  auto leave = [&](const BaseRecord& old) {
    if (!left.insert(old.path).second) return;
    auto local = stat_entry(session.root, old.path);
    if (!local) {
      changes.drop(old.path);
    } else if (old.kind == NodeKind::kFolder) {
      to_trash.push_back(&old);  // Removed later only if empty.
    } else if (unchanged_since(session.root, *local, old)) {
      to_trash.push_back(&old);
    } else {
      // Edited here, deleted there: the edit wins. Forgetting the base makes the next push
      // upload it again.
      changes.drop(old.path);
      report.skipped.push_back(old.path +
                               ": deleted on the server but edited here; kept "
                               "(push to restore it)");
    }
  };
  // Folders (and files) whose share ended: their local copy stays, as the user's own files,
  // no longer synced (push leaves them alone), and the user is told so.
  CAIRN_ASSIGN_OR_RETURN(auto detached, session.state->detached());
  const size_t detached_before = detached.size();
  for (const auto& [node, e] : changed) {
    auto rel_opt = session.to_local(e.path);
    auto by_node = base_by_node.find(node);
    if (e.deleted && e.change == "unshare" && by_node != base_by_node.end()) {
      const std::string top = by_node->second->path;
      for (const auto& inside : subtree_paths(base, top)) changes.drop(inside);
      detached.push_back(top);
      report.shares_ended.push_back(top);
      continue;
    }
    // A folder that left (moved out of this working copy's folder, or deleted where its files
    // have no changes of their own: a shared folder one left) takes all it held.
    auto leave_subtree = [&] {
      const std::string& top = by_node->second->path;
      // A node the feed names alive is placed by its own entry, and so is all that is inside it
      // here: such a node may only seem to be inside the folder that left (a folder swapped with
      // one it held, or another node at the same path).
      auto placed_elsewhere = [&](std::string p) {
        while (p != top && under(p, top)) {
          auto it = base.find(p);
          if (it != base.end() && it->second.node_id != 0) {
            auto own = changed.find(it->second.node_id);
            if (own != changed.end() && !own->second.deleted) return true;
          }
          p = p.substr(0, p.rfind('/'));
        }
        return false;
      };
      for (const auto& inside : subtree_paths(base, top)) {
        if (!placed_elsewhere(inside)) leave(base.at(inside));
      }
    };
    if (!rel_opt) {
      if (by_node != base_by_node.end()) leave_subtree();
      continue;
    }
    if (rel_opt->empty()) continue;
    const std::string rel = *rel_opt;
    if (!e.deleted) live.emplace_back(rel, &e);

    // A node that moved or was deleted: its old local path is no longer its home. A folder
    // still at its old path could not be moved here: all it held leaves with it.
    if (by_node != base_by_node.end() && by_node->second->kind == NodeKind::kFolder &&
        (e.deleted || by_node->second->path != rel)) {
      leave_subtree();
    } else if (by_node != base_by_node.end() && (e.deleted || by_node->second->path != rel)) {
      leave(*by_node->second);
    }
  }
  // Something arriving where a detached copy is (the share given again): synced again, and
  // what is here meets it as any unsynced local file would.
  std::erase_if(detached, [&](const std::string& top) {
    return std::any_of(live.begin(), live.end(),
                       [&](const auto& l) { return l.first == top || under(l.first, top); });
  });
  const bool detached_changed = detached.size() != detached_before || !report.shares_ended.empty();

  // Files deleted on the server go to the trash after the downloads, so that their chunks can
  // still be reused. But if a new node takes over a vacated path (a file that became a folder or
  // the reverse), the old one has to make room first.
  const std::string trash = trash_folder(session.state->state_dir());
  auto overlaps = [](const std::string& a, const std::string& b) {
    return a == b ||
           (a.size() > b.size() && a.compare(0, b.size(), b) == 0 && a[b.size()] == '/') ||
           (b.size() > a.size() && b.compare(0, a.size(), a) == 0 && b[a.size()] == '/');
  };
  bool make_room = false;
  for (const auto& [rel, e] : live) {
    for (const BaseRecord* old : to_trash) make_room = make_room || overlaps(rel, old->path);
  }
  if (make_room) {
    move_to_trash(tree, trash, to_trash, changes, report);
    to_trash.clear();
  }

  std::unordered_set<std::string> arriving;  // Every path a live node of the feed takes.
  for (const auto& [rel, e] : live) arriving.insert(rel);

  // Pass 2: the current state of every live node.
  for (const auto& [rel, entry] : live) {
    const Entry& e = *entry;
    auto b_it = base.find(rel);
    const BaseRecord* b = b_it == base.end() ? nullptr : &b_it->second;
    // A symlink (or a file) where the server has a folder: what is below it is not written.
    if (auto way = tree.check_parents(rel); !way) {
      report.errors.push_back(rel + ": " + way.error().message());
      continue;
    }
    auto local = stat_entry(session.root, rel);
    const bool exists = local.has_value();
    if (!exists && local.error().code() != ErrorCode::kNotFound) {
      report.errors.push_back(rel + ": " + local.error().message());
      continue;
    }

    if (e.kind == NodeKind::kFolder) {
      if (exists && local->kind != NodeKind::kFolder) {
        report.conflicts.push_back(rel + ": a folder on the server, a file here");
        continue;
      }
      if (!exists && b != nullptr && b->node_id == e.node_id) {
        // A folder this copy knows (perhaps moved or renamed there) that was deleted here: the
        // delete is the next push's to send, for what this copy held in it.
        continue;
      }
      folders.emplace_back(rel, e);
      continue;
    }
    if (b != nullptr && b->node_id == e.node_id && b->version == e.version &&
        b->manifest == e.manifest && b->target == e.symlink_target && b->kind == e.kind) {
      // The server's version is the one we last synced (often our own push, seen again in the
      // feed): nothing new from there. Whatever changed here since (an edit, a delete) is a
      // local change for the next push, not a conflict.
      continue;
    }
    const bool modified_here =
        exists && (b == nullptr || !unchanged_since(session.root, *local, *b));
    if (!modified_here && exists && b != nullptr && b->node_id == e.node_id &&
        b->kind == NodeKind::kFile && e.kind == NodeKind::kFile && local->kind == NodeKind::kFile &&
        b->manifest == e.manifest) {
      // A new version of the same bytes: only the mode changed there. Nothing to fetch.
      if (auto set = tree.set_mode(rel, e.mode); !set) {
        report.errors.push_back(rel + ": " + set.error().message());
        continue;
      }
      if (auto st = stat_entry(session.root, rel)) {
        changes.put(base_for(session.root, rel, e, *st));
        ++report.files_changed;
        report.changed.push_back(rel);
      }
      continue;
    }
    if (modified_here) {
      // Same content on both sides is no conflict: adopt the server's version as the base.
      bool same = false;
      if (local->kind == NodeKind::kFile && e.kind == NodeKind::kFile && local->size == e.size) {
        if (!config) {
          auto fetched = api.config();
          if (!fetched) return std::move(fetched).error();
          config = std::move(*fetched);
        }
        auto hashed = hash_file(session.root + "/" + rel, config->chunking);
        same = hashed && hashed->manifest.address().hex() == e.manifest;
        if (same) chunk_maps.emplace_back(rel, hashed->manifest);
      }
      if (local->kind == NodeKind::kSymlink && e.kind == NodeKind::kSymlink) {
        same = local->target == e.symlink_target;
      }
      if (same) {
        BaseRecord adopted = base_for(session.root, rel, e, *local);
        // The same bytes with another mode: this copy's mode is the newer word on it. The base
        // remembers the server's, so that the next push sends ours.
        if (local->kind == NodeKind::kFile) adopted.mode = e.mode;
        changes.put(std::move(adopted));
        continue;
      }
      // Both sides changed it: keep both. The local version steps aside under a conflicted-copy
      // name (this device, its modification time: the name the server gives it if it is pushed
      // first), and the server's version takes the path. The copy is pushed like any new file.
      auto copy = set_aside(session, tree, rel, *local, base, arriving);
      if (!copy) {
        report.conflicts.push_back(rel + ": changed here and on the server (version " +
                                   std::to_string(e.version) + "); kept the local version (" +
                                   copy.error().message() + ")");
        continue;
      }
      report.conflicts.push_back(rel + ": changed here and on the server; yours is now " + *copy);
      if (b != nullptr) changes.drop(rel);
    }
    if (e.kind == NodeKind::kSymlink) {
      symlinks.emplace_back(rel, e);
      continue;
    }
    auto job = std::make_unique<DownloadJob>();
    job->rel = rel;
    job->entry = e;
    if (exists && !modified_here) job->expected = *local;
    downloads.push_back(std::move(job));
  }

  // 4. Folders, then files (in parallel), then symlinks.
  std::sort(folders.begin(), folders.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  // A folder's mode is set last, once what goes into it is there (a folder the server has as
  // 0555 still takes its files). A mode changed here too stays: the next push sends it.
  std::vector<std::pair<std::string, const Entry*>> folder_modes;
  for (const auto& [rel, e] : folders) {
    auto created = tree.make_folders(rel);
    if (!created) {
      report.errors.push_back(rel + ": " + created.error().message());
      continue;
    }
    if (*created) ++report.folders_created;
    auto st = stat_entry(session.root, rel);
    if (!st) continue;
    const auto b = base.find(rel);
    const bool changed_here = !*created && b != base.end() && b->second.kind == NodeKind::kFolder &&
                              !same_permissions(st->mode, b->second.mode);
    if (!changed_here && !same_permissions(st->mode, e.mode)) {
      folder_modes.emplace_back(rel, &e);
      continue;
    }
    BaseRecord record = base_for(session.root, rel, e, *st);
    if (changed_here) record.mode = e.mode;  // The server's: the next push sends ours.
    changes.put(std::move(record));
  }

  Progress progress(command, printer);
  progress.files_total = downloads.size();
  for (const auto& d : downloads) progress.bytes_total += d->entry.size;
  progress.start();
  uint64_t reused = 0;
  {
    Downloader downloader(session, tree, downloads, progress);
    downloader.run(api, std::max(1, options.transfer_threads), kLocateBatch);
    downloader.put_in_place();
    reused = downloader.reused();
    report.chunks_received = downloader.received();
    report.bytes_received = downloader.received_bytes();
  }
  progress.stop();
  report.chunks_reused = reused;

  for (const auto& job : downloads) {
    report.chunks_total += job->manifest.chunks().size();
    report.bytes_total += job->entry.size;
    if (job->done) {
      ++report.files_changed;
      report.changed.push_back(job->rel);
      changes.put(base_for(session.root, job->rel, job->entry, job->final_stat));
      chunk_maps.emplace_back(job->rel, job->manifest);
    } else if (job->conflict) {
      report.conflicts.push_back(job->rel + ": " + job->error);
    } else {
      report.errors.push_back(job->rel + ": " + job->error);
      if (job->corrupt) report.corrupt = true;
    }
  }
  report.bytes_deduplicated =
      report.bytes_total > report.bytes_received ? report.bytes_total - report.bytes_received : 0;

  for (const auto& [rel, e] : symlinks) {
    // Made in .cairn/tmp, then put in place: its target is only ever text to this client.
    const std::string temp = temp_path(session.state->state_dir());
    if (::symlink(e.symlink_target.c_str(), temp.c_str()) != 0) {
      report.errors.push_back(rel + ": cannot create symlink: " + std::strerror(errno));
      continue;
    }
    if (auto placed = tree.place(temp, rel); !placed) {
      ::unlink(temp.c_str());
      report.errors.push_back(rel + ": cannot create symlink: " + placed.error().message());
      continue;
    }
    ++report.files_changed;
    report.changed.push_back(rel);
    auto st = stat_entry(session.root, rel);
    if (st) changes.put(base_for(session.root, rel, e, *st));
  }

  // 5. Deletions last, so their chunks could still be reused above.
  move_to_trash(tree, trash, to_trash, changes, report);

  // 6. Folders' modes, deepest first: a folder that closes to its owner closes after its
  // subfolders got theirs.
  tree.relock();
  std::reverse(folder_modes.begin(), folder_modes.end());
  for (const auto& [rel, e] : folder_modes) {
    if (auto set = tree.set_mode(rel, e->mode); !set) {
      report.errors.push_back(rel + ": " + set.error().message());
      continue;
    }
    if (auto st = stat_entry(session.root, rel)) changes.put(base_for(session.root, rel, *e, *st));
  }

  // What was put in place (renames, new folders, the trash) reaches the disk before the state
  // says so: a record of a rename that a crash undid would make the old file look edited.
  if (!changes.upserts().empty() || !changes.removals().empty()) {
    const int root_fd = ::open(session.root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root_fd >= 0) {
      (void)::syncfs(root_fd);
      ::close(root_fd);
    }
  }
  CAIRN_RETURN_IF_ERROR(session.state->update(changes, chunk_maps));
  if (detached_changed) CAIRN_RETURN_IF_ERROR(session.state->set_detached(detached));
  // Errors mean some changes were not applied: keep the old cursor so the next pull retries
  // them. Conflicts are settled by the user's next push, so the cursor may move past them.
  if (report.errors.empty()) CAIRN_RETURN_IF_ERROR(session.state->set_setting("cursor", cursor));
  report.elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - started)
                          .count();
  return report;
}

}  // namespace cairn::client
