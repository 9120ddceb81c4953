#include "cli/client/tree/tree_watcher.h"

#include <dirent.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace cairn::client {
namespace {

constexpr uint32_t kMask = IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM |
                           IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR |
                           IN_DONT_FOLLOW;

std::string join(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

bool is_state_folder(const std::string& rel) { return rel == ".cairn"; }

Error limit_error(const std::string& what) {
  return Error(ErrorCode::kUnavailable,
               what + ": " + std::strerror(errno) +
                   (errno == ENOSPC || errno == EMFILE
                        ? " (raise fs.inotify.max_user_watches or max_user_instances with sysctl; "
                          "until then use `cairn sync` without --watch, e.g. from cron)"
                        : ""));
}

}  // namespace

Result<std::unique_ptr<TreeWatcher>> TreeWatcher::open(const std::string& root) {
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return limit_error("inotify");
  std::unique_ptr<TreeWatcher> w(new TreeWatcher(fd, root));
  CAIRN_RETURN_IF_ERROR(w->add_tree(""));
  return w;
}

TreeWatcher::~TreeWatcher() {
  if (fd_ >= 0) ::close(fd_);
}

Result<void> TreeWatcher::add_tree(const std::string& dir) {
  const std::string abs = dir.empty() ? root_ : root_ + "/" + dir;
  const int wd = ::inotify_add_watch(fd_, abs.c_str(), kMask);
  if (wd < 0) {
    // Gone already (created and removed between two events), or not a folder: nothing to do.
    if (errno == ENOENT || errno == ENOTDIR) return {};
    return limit_error("watching " + abs);
  }
  dirs_[wd] = dir;
  DIR* d = ::opendir(abs.c_str());
  if (d == nullptr) return {};
  std::vector<std::string> subdirs;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    if (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN) continue;
    const std::string rel = join(dir, name);
    if (is_state_folder(rel)) continue;
    subdirs.push_back(rel);
  }
  ::closedir(d);
  for (const auto& sub : subdirs) CAIRN_RETURN_IF_ERROR(add_tree(sub));
  return {};
}

Result<bool> TreeWatcher::drain() {
  alignas(inotify_event) char buf[64 * 1024];
  bool any = false;
  while (true) {
    const ssize_t n = ::read(fd_, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return any;
      return make_error(ErrorCode::kIo,
                        std::string("reading inotify events: ") + std::strerror(errno));
    }
    for (ssize_t at = 0; at < n;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(buf + at);
      at += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
      if ((ev->mask & IN_Q_OVERFLOW) != 0) {
        lost_ = true;
        any = true;
        continue;
      }
      auto dir = dirs_.find(ev->wd);
      if ((ev->mask & IN_IGNORED) != 0) {
        if (dir != dirs_.end()) dirs_.erase(dir);
        continue;
      }
      if (dir == dirs_.end()) continue;
      const std::string name = ev->len > 0 ? std::string(ev->name) : std::string();
      const std::string rel = name.empty() ? dir->second : join(dir->second, name);
      if (is_state_folder(rel) || rel.rfind(".cairn/", 0) == 0) continue;
      any = true;
      // A folder created or moved in: watch it and what it already holds (files written into
      // it before the watch existed are found by the scan that follows).
      if ((ev->mask & IN_ISDIR) != 0 && (ev->mask & (IN_CREATE | IN_MOVED_TO)) != 0) {
        CAIRN_RETURN_IF_ERROR(add_tree(rel));
      }
    }
  }
}

bool TreeWatcher::lost() { return std::exchange(lost_, false); }

}  // namespace cairn::client
