#include "cli/client/tree/scanner.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

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

Result<void> scan_dir(int dir_fd, const std::string& prefix, IgnoreRules& ignore, ScanResult& out) {
  DIR* dir = ::fdopendir(dir_fd);
  if (dir == nullptr) {
    ::close(dir_fd);
    return make_error(ErrorCode::kIo, "open folder " + prefix + ": " + std::strerror(errno));
  }
  std::vector<std::pair<std::string, LocalEntry>> folders;
  while (true) {
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
    if (ignore.ignored(rel, S_ISDIR(st.st_mode))) {
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
    LocalEntry e = std::move(*entry);
    out.entries.push_back(std::move(e));
  }
  const int read_errno = errno;
  for (auto& [name, entry] : folders) {
    out.entries.push_back(entry);
    const int child =
        ::openat(::dirfd(dir), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (child < 0) {
      out.skipped.push_back(entry.path + ": " + std::strerror(errno));
      continue;
    }
    CAIRN_RETURN_IF_ERROR(scan_dir(child, entry.path, ignore, out));
  }
  ::closedir(dir);
  if (read_errno != 0) {
    return make_error(ErrorCode::kIo, "read folder " + prefix + ": " + std::strerror(read_errno));
  }
  return {};
}

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
  ScanResult out;
  const int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return make_error(ErrorCode::kIo, "open " + root + ": " + std::strerror(errno));
  IgnoreRules ignore(root);
  CAIRN_RETURN_IF_ERROR(scan_dir(fd, "", ignore, out));
  std::sort(out.entries.begin(), out.entries.end(),
            [](const LocalEntry& a, const LocalEntry& b) { return a.path < b.path; });
  // The list lives as long as the push or pull that asked for it; grown by doubling, up to half
  // of it would be empty room (6 MB of a 78,000-file tree's 14).
  out.entries.shrink_to_fit();
  return out;
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
