#include "cli/client/tree/scanner.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <iterator>
#include <mutex>
#include <optional>
#include <thread>

#include "cli/client/state/local_state.h"
#include "cli/client/tree/file_hasher.h"
#include "cli/client/tree/ignore.h"
#include "common/paths.h"
#include "common/remote_path.h"

namespace cairn::client {
namespace {

using protocol::NodeKind;

int64_t mtime_of(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

// What lstat saw at `name` (relative to `dir_fd`) as a LocalEntry; reads a symlink's target.
// kInvalidArgument for FIFOs, sockets and devices, which Cairn does not sync.
Result<LocalEntry> entry_from_stat(int dir_fd, const char* name, const std::string& rel,
                                   const struct stat& st) {
  LocalEntry e;
  e.path = rel;
  e.mtime_ns = mtime_of(st);
  e.inode = static_cast<uint64_t>(st.st_ino);
  e.mode = static_cast<uint32_t>(st.st_mode & 07777);
  if (S_ISREG(st.st_mode)) {
    e.kind = NodeKind::kFile;
    e.size = static_cast<uint64_t>(st.st_size);
  } else if (S_ISDIR(st.st_mode)) {
    e.kind = NodeKind::kFolder;
    e.mtime_ns = 0;  // A folder's mtime changes with its contents: not a signal here.
  } else if (S_ISLNK(st.st_mode)) {
    e.kind = NodeKind::kSymlink;
    std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
    const ssize_t n = ::readlinkat(dir_fd, name, target.data(), target.size());
    if (n < 0) return make_error(ErrorCode::kIo, std::string("readlink: ") + std::strerror(errno));
    target.resize(static_cast<size_t>(n));
    e.target = std::move(target);
    e.size = e.target.size();
  } else {
    return make_error(ErrorCode::kInvalidArgument, "not a regular file, folder or symlink");
  }
  return e;
}

// Reads a tree with several threads: a scan of an unchanged tree is one lstat per entry, and
// the kernel's work for those is most of its time. Each thread walks depth first, as a lone walk
// would, and hands a folder it found to the shared queue instead of descending into it only
// while another thread waits for work: so the walk spreads over the threads whatever the tree's
// shape (one big folder or many), and few folders are open at once (a queued folder is an open
// descriptor). Each thread has its own list and its own .cairnignore cache; the lists are joined
// and sorted at the end.
class TreeScan {
 public:
  TreeScan(std::string root, size_t threads) : root_(std::move(root)), threads_(threads) {}

  Result<ScanResult> run(int root_fd) {
    std::vector<Walker> walkers;
    walkers.reserve(threads_);
    for (size_t i = 0; i < threads_; ++i) walkers.emplace_back(root_);
    queue_.emplace_back(root_fd, std::string());
    std::vector<std::thread> helpers;
    for (size_t i = 1; i < threads_; ++i) helpers.emplace_back([&, i] { work(walkers[i]); });
    work(walkers[0]);
    for (auto& t : helpers) t.join();
    if (failed_) return *failed_;

    ScanResult out;
    size_t total = 0;
    for (const auto& w : walkers) total += w.out.entries.size();
    // Exactly as large as it needs to be: the list lives as long as the push or pull that asked
    // for it.
    out.entries.reserve(total);
    for (auto& w : walkers) {
      std::move(w.out.entries.begin(), w.out.entries.end(), std::back_inserter(out.entries));
      std::move(w.out.skipped.begin(), w.out.skipped.end(), std::back_inserter(out.skipped));
      out.ignored += w.out.ignored;
    }
    std::sort(out.entries.begin(), out.entries.end(),
              [](const LocalEntry& a, const LocalEntry& b) { return a.path < b.path; });
    std::sort(out.skipped.begin(), out.skipped.end());
    return out;
  }

 private:
  struct Walker {
    explicit Walker(const std::string& root) : ignore(root) {}
    IgnoreRules ignore;
    ScanResult out;
  };

  // Takes folders from the queue until every thread is out of work.
  void work(Walker& w) {
    std::unique_lock lock(mu_);
    while (true) {
      if (!queue_.empty()) {
        auto [fd, path] = std::move(queue_.back());
        queue_.pop_back();
        lock.unlock();
        auto scanned = walk(fd, path, w);
        lock.lock();
        if (!scanned && !failed_) {
          failed_ = std::move(scanned).error();
          stop_ = true;
        }
        continue;
      }
      if (idle_ + 1 == threads_) {  // Nobody holds a folder and none is queued: the end.
        done_ = true;
        cv_.notify_all();
        return;
      }
      ++idle_;
      cv_.wait(lock, [&] { return done_ || !queue_.empty(); });
      --idle_;
      if (done_) return;
    }
  }

  // Queues the open folder `fd` if a thread waits for work; false (the caller walks it) if not.
  bool offer(int fd, const std::string& path) {
    std::lock_guard lock(mu_);
    if (idle_ <= queue_.size()) return false;
    queue_.emplace_back(fd, path);
    cv_.notify_one();
    return true;
  }

  // Lists the folder open as `dir_fd` (closing it) and, depth first, what is below it.
  Result<void> walk(int dir_fd, const std::string& prefix, Walker& w) {
    DIR* dir = ::fdopendir(dir_fd);
    if (dir == nullptr) {
      ::close(dir_fd);
      return make_error(ErrorCode::kIo, "open folder " + prefix + ": " + std::strerror(errno));
    }
    ScanResult& out = w.out;
    // Asked once here rather than for each entry: most folders have no rule above them.
    const bool rules_here = w.ignore.rules_reach(prefix);
    std::vector<std::pair<std::string, LocalEntry>> folders;
    while (!stop_) {
      errno = 0;
      const dirent* de = ::readdir(dir);
      if (de == nullptr) break;
      const std::string name = de->d_name;
      if (name == "." || name == "..") continue;
      if (prefix.empty() && name == kStateDir) continue;
      const std::string rel = prefix.empty() ? name : prefix + "/" + name;

      // Names the server would refuse (bad UTF-8, control characters, too long) or would
      // normalise to another spelling cannot round-trip: report them instead of syncing.
      auto normalized = normalize_remote_name(name);
      if (!normalized) {
        out.skipped.push_back(rel + ": " + normalized.error().message());
        continue;
      }
      if (*normalized != name) {
        out.skipped.push_back(rel + ": name is not in Unicode NFC form");
        continue;
      }

      struct stat st {};
      if (::fstatat(::dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;  // Deleted while we looked.
        out.skipped.push_back(rel + ": " + std::strerror(errno));
        continue;
      }
      if (rules_here && w.ignore.ignored(rel, S_ISDIR(st.st_mode))) {
        ++out.ignored;  // .cairnignore: neither synced nor looked into.
        continue;
      }
      auto entry = entry_from_stat(::dirfd(dir), de->d_name, rel, st);
      if (!entry) {
        out.skipped.push_back(rel + ": " + entry.error().message());
        continue;
      }
      if (entry->kind == NodeKind::kFolder) {
        folders.emplace_back(name, std::move(*entry));
        continue;
      }
      out.entries.push_back(std::move(*entry));
    }
    const int read_errno = errno;
    for (auto& [name, entry] : folders) {
      if (stop_) break;
      out.entries.push_back(entry);
      const int child =
          ::openat(::dirfd(dir), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (child < 0) {
        out.skipped.push_back(entry.path + ": " + std::strerror(errno));
        continue;
      }
      if (offer(child, entry.path)) continue;
      if (auto below = walk(child, entry.path, w); !below) {
        ::closedir(dir);
        return below;
      }
    }
    ::closedir(dir);
    if (read_errno != 0 && !stop_) {
      return make_error(ErrorCode::kIo, "read folder " + prefix + ": " + std::strerror(read_errno));
    }
    return {};
  }

  const std::string root_;
  const size_t threads_;
  std::atomic<bool> stop_{false};  // A thread failed: the others stop early.
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<int, std::string>> queue_;  // Open folders nobody has walked yet.
  size_t idle_ = 0;                                 // Threads waiting for a folder.
  bool done_ = false;
  std::optional<Error> failed_;
};

}  // namespace

bool set_aside_detached(ScanResult& scan, std::vector<std::string>& detached) {
  if (detached.empty()) return false;
  std::vector<std::string> present;
  for (const auto& top : detached) {
    const bool here = std::any_of(scan.entries.begin(), scan.entries.end(),
                                  [&](const LocalEntry& e) { return e.path == top; });
    if (!here) continue;
    present.push_back(top);
    scan.skipped.push_back(top +
                           ": its share ended; kept here as your own files and not synced "
                           "(move it elsewhere to push it as yours, or delete it)");
  }
  std::erase_if(scan.entries, [&](const LocalEntry& e) {
    return std::any_of(present.begin(), present.end(),
                       [&](const std::string& top) { return is_within(e.path, top); });
  });
  const bool changed = present.size() != detached.size();
  detached = std::move(present);
  return changed;
}

Result<ScanResult> scan_tree(const std::string& root) {
  const int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return make_error(ErrorCode::kIo, "open " + root + ": " + std::strerror(errno));
  // A thread per core, at most four: beyond that the file system's locks, not the threads,
  // decide, and each thread keeps a .cairnignore cache of its own.
  const size_t threads = std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 4);
  return TreeScan(root, threads).run(fd);
}

Result<LocalEntry> stat_entry(const std::string& root, const std::string& rel) {
  const std::string full = root + "/" + rel;
  struct stat st {};
  if (::lstat(full.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return make_error(ErrorCode::kNotFound, rel);
    return make_error(ErrorCode::kIo, "stat " + rel + ": " + std::strerror(errno));
  }
  return entry_from_stat(AT_FDCWD, full.c_str(), rel, st);
}

bool same_stat(const LocalEntry& a, uint64_t size, int64_t mtime_ns, uint64_t inode, uint32_t mode,
               const std::string& target, NodeKind kind) {
  return a.kind == kind && a.size == size && a.mtime_ns == mtime_ns && a.inode == inode &&
         a.mode == mode && a.target == target;
}

bool same_stat(const LocalEntry& a, const LocalEntry& b) {
  return same_stat(a, b.size, b.mtime_ns, b.inode, b.mode, b.target, b.kind);
}

bool same_stat(const LocalEntry& a, const BaseRecord& b) {
  return same_stat(a, b.size, b.mtime_ns, b.inode, b.mode, b.target, b.kind);
}

BaseRecord base_from_stat(const LocalEntry& st, int64_t version, int64_t node_id) {
  BaseRecord b;
  b.path = st.path;
  b.kind = st.kind;
  b.size = st.size;
  b.mtime_ns = st.mtime_ns;
  if (st.kind != NodeKind::kFolder) {
    const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    if (st.mtime_ns > now - kRacyWindowNs) b.mtime_ns = 0;  // Racily clean: see the header.
  }
  b.inode = st.inode;
  b.mode = st.mode;
  b.target = st.target;
  b.version = version;
  b.node_id = node_id;
  return b;
}

bool unchanged_since(const std::string& root, const LocalEntry& now, const BaseRecord& b) {
  if (same_stat(now, b)) return true;
  if (now.kind != NodeKind::kFile || b.kind != NodeKind::kFile || now.size != b.size ||
      !same_permissions(now.mode, b.mode) || now.inode != b.inode || b.xxh3 == 0) {
    return false;
  }
  auto fp = fingerprint_file(root + "/" + now.path);
  return fp && *fp == b.xxh3;
}

}  // namespace cairn::client
