#include "cli/client/tree/local_tree.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/file_io.h"
#include "common/remote_path.h"

namespace cairn::client {
namespace {

// Folders kept open at most; past it they are all closed at the start of the next operation.
constexpr size_t kMaxOpenFolders = 256;

std::string parent_rel(const std::string& rel) {
  const size_t slash = rel.rfind('/');
  return slash == std::string::npos ? std::string() : rel.substr(0, slash);
}

std::string base_name(const std::string& rel) {
  const size_t slash = rel.rfind('/');
  return slash == std::string::npos ? rel : rel.substr(slash + 1);
}

}  // namespace

LocalTree::LocalTree(std::string root) : root_(std::move(root)) {}

LocalTree::~LocalTree() {
  relock();
  forget_folders();
  if (root_fd_ >= 0) ::close(root_fd_);
}

Result<void> LocalTree::check(std::string_view rel) {
  // The same rules as a remote path, so that what the server may name and what may be written
  // here agree: a path the server sent was already held to them (Session::to_local).
  auto canonical = normalize_remote_path("/" + std::string(rel));
  if (rel.empty() || !canonical || canonical->substr(1) != rel) {
    return make_error(
        ErrorCode::kInvalidArgument,
        "refusing to write '" + std::string(rel.substr(0, 200)) + "' in the working copy: " +
            (canonical ? std::string("not a canonical path") : canonical.error().message()));
  }
  return {};
}

bool LocalTree::known_missing(const std::string& rel) const {
  if (missing_.empty()) return false;
  for (std::string at = parent_rel(rel); !at.empty(); at = parent_rel(at)) {
    if (missing_.count(at) != 0) return true;
  }
  return false;
}

void LocalTree::forget_folders() {
  missing_.clear();
  for (const auto& [rel, fd] : open_) ::close(fd);
  open_.clear();
}

Result<int> LocalTree::folder(const std::string& rel, bool create) {
  if (rel.empty()) {
    if (root_fd_ < 0) {
      // The root itself is the user's choice, symlink or not.
      root_fd_ = ::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (root_fd_ < 0) return errno_error("open " + root_, errno);
    }
    return root_fd_;
  }
  if (auto hit = open_.find(rel); hit != open_.end()) return hit->second;
  if (!create && missing_.count(rel) != 0) {
    return make_error(ErrorCode::kNotFound, "open folder " + rel + ": no such folder");
  }
  CAIRN_ASSIGN_OR_RETURN(const int parent, folder(parent_rel(rel), create));
  const std::string name = base_name(rel);
  constexpr int kFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  int fd = ::openat(parent, name.c_str(), kFlags);
  if (fd < 0 && errno == ENOENT && create) {
    missing_.clear();
    if (writing_in({parent}, [&] { return ::mkdirat(parent, name.c_str(), 0777); }) != 0 &&
        errno != EEXIST) {
      return errno_error("create folder " + rel, errno);
    }
    fd = ::openat(parent, name.c_str(), kFlags);
  }
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT && !create) missing_.insert(rel);
    struct stat st {};
    if ((err == ELOOP || err == ENOTDIR) &&
        ::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      return make_error(
          ErrorCode::kConflict,
          rel + (S_ISLNK(st.st_mode) ? " is a symlink here; cairn never writes through one"
                                     : " is a file here, not a folder"));
    }
    return errno_error("open folder " + rel, err);
  }
  open_.emplace(rel, fd);
  return fd;
}

template <typename Op>
int LocalTree::writing_in(std::initializer_list<int> fds, Op op) {
  int rc = op();
  if (rc == 0 || errno != EACCES) return rc;
  const int refused = errno;
  bool unlocked = false;
  for (const int fd : fds) {
    struct stat st {};
    if (::fstat(fd, &st) != 0 || st.st_uid != ::geteuid() || (st.st_mode & S_IWUSR) != 0) {
      continue;
    }
    const int kept = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (kept < 0) continue;
    if (::fchmod(fd, (st.st_mode & 07777) | S_IWUSR | S_IXUSR) != 0) {
      ::close(kept);
      continue;
    }
    unlocked_.emplace_back(kept, st.st_mode & 07777);
    unlocked = true;
  }
  if (!unlocked) {
    errno = refused;
    return rc;
  }
  return op();
}

void LocalTree::relock() {
  // Last unlocked first: a folder unlocked twice ends with the mode it had before the first.
  for (auto it = unlocked_.rbegin(); it != unlocked_.rend(); ++it) {
    (void)::fchmod(it->first, it->second);
    ::close(it->first);
  }
  unlocked_.clear();
}

Result<void> LocalTree::set_mode(const std::string& rel, uint32_t mode) {
  trim();
  CAIRN_ASSIGN_OR_RETURN(auto parent, parent_of(rel, false));
  // AT_SYMLINK_NOFOLLOW: a symlink put here meanwhile is refused, its target never changed.
  if (::fchmodat(parent.first, parent.second.c_str(), static_cast<mode_t>(mode & 07777),
                 AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == EOPNOTSUPP) {
      return make_error(ErrorCode::kConflict,
                        rel + " is a symlink here; cairn never changes what one points to");
    }
    return errno_error("set the mode of " + rel, errno);
  }
  return {};
}

void LocalTree::trim() {
  if (open_.size() > kMaxOpenFolders) forget_folders();
}

Result<std::pair<int, std::string>> LocalTree::parent_of(const std::string& rel, bool create) {
  CAIRN_RETURN_IF_ERROR(check(rel));
  CAIRN_ASSIGN_OR_RETURN(const int fd, folder(parent_rel(rel), create));
  return std::make_pair(fd, base_name(rel));
}

Result<void> LocalTree::check_parents(const std::string& rel) {
  trim();
  auto parent = parent_of(rel, false);
  if (!parent && parent.error().code() != ErrorCode::kNotFound) return std::move(parent).error();
  return {};
}

Result<bool> LocalTree::make_folders(const std::string& rel) {
  trim();
  missing_.clear();
  CAIRN_ASSIGN_OR_RETURN(auto parent, parent_of(rel, true));
  const bool made = writing_in({parent.first}, [&] {
                      return ::mkdirat(parent.first, parent.second.c_str(), 0777);
                    }) == 0;
  if (!made && errno != EEXIST) return errno_error("create folder " + rel, errno);
  auto opened = folder(rel, false);
  if (!opened) {
    if (opened.error().code() == ErrorCode::kConflict) {
      return make_error(ErrorCode::kAlreadyExists, opened.error().message());
    }
    return std::move(opened).error();
  }
  return made;
}

Result<void> LocalTree::place(const std::string& from_abs, const std::string& rel, bool replace) {
  trim();
  CAIRN_ASSIGN_OR_RETURN(auto parent, parent_of(rel, true));
  const auto in_place = [&](unsigned flags) {
    return writing_in({parent.first}, [&] {
      return ::renameat2(AT_FDCWD, from_abs.c_str(), parent.first, parent.second.c_str(), flags);
    });
  };
  int done = in_place(replace ? 0 : RENAME_NOREPLACE);
  if (done != 0 && errno == EINVAL && !replace) {
    // A file system without RENAME_NOREPLACE: check, then rename.
    struct stat st {};
    if (::fstatat(parent.first, parent.second.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      return make_error(ErrorCode::kAlreadyExists, rel + " exists");
    }
    done = in_place(0);
  }
  if (done != 0) {
    const int err = errno;
    if (err == EEXIST && !replace) return make_error(ErrorCode::kAlreadyExists, rel + " exists");
    return errno_error("put " + rel + " in place", err);
  }
  return {};
}

Result<void> LocalTree::rename(const std::string& from, const std::string& to, bool replace) {
  trim();
  CAIRN_RETURN_IF_ERROR(check(to));
  CAIRN_ASSIGN_OR_RETURN(auto source, parent_of(from, false));
  CAIRN_ASSIGN_OR_RETURN(auto target, parent_of(to, true));
  const unsigned flags = replace ? 0 : RENAME_NOREPLACE;
  if (writing_in({source.first, target.first}, [&] {
        return ::renameat2(source.first, source.second.c_str(), target.first, target.second.c_str(),
                           flags);
      }) != 0) {
    const int err = errno;
    if (err == EEXIST) return make_error(ErrorCode::kAlreadyExists, to + " exists");
    return errno_error("rename " + from + " to " + to, err);
  }
  forget_folders();  // A folder may have moved: paths of open folders may be stale.
  return {};
}

Result<void> LocalTree::move_out(const std::string& rel, const std::string& to_abs) {
  trim();
  CAIRN_ASSIGN_OR_RETURN(auto source, parent_of(rel, false));
  if (writing_in({source.first}, [&] {
        return ::renameat(source.first, source.second.c_str(), AT_FDCWD, to_abs.c_str());
      }) != 0) {
    return errno_error("move " + rel + " to " + to_abs, errno);
  }
  forget_folders();
  return {};
}

Result<bool> LocalTree::remove_folder(const std::string& rel) {
  trim();
  auto parent = parent_of(rel, false);
  if (!parent) {
    if (parent.error().code() == ErrorCode::kNotFound) return true;
    return std::move(parent).error();
  }
  if (writing_in({parent->first}, [&] {
        return ::unlinkat(parent->first, parent->second.c_str(), AT_REMOVEDIR);
      }) != 0) {
    if (errno == ENOENT) return true;
    if (errno == ENOTEMPTY || errno == EEXIST) return false;
    return errno_error("remove folder " + rel, errno);
  }
  forget_folders();
  return true;
}

}  // namespace cairn::client
