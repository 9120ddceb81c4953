#pragma once

// Watches a working copy for changes with inotify: every folder of the tree (folders created
// later included, as they appear), never the .cairn state folder. It says only *that* something
// changed, not what: the push that follows scans the tree (by stat) and finds out, so a missed
// or merged event can cost a scan, never a change.

#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>

#include "common/error.h"

namespace cairn::client {

class TreeWatcher {
 public:
  // Watches `root` and every folder below it. kUnavailable if the system's inotify limits are
  // reached (fs.inotify.max_user_watches / max_user_instances): the message says which.
  static Result<std::unique_ptr<TreeWatcher>> open(const std::string& root);
  ~TreeWatcher();
  TreeWatcher(const TreeWatcher&) = delete;
  TreeWatcher& operator=(const TreeWatcher&) = delete;

  // A file descriptor that becomes readable when events are waiting (for poll()).
  int fd() const { return fd_; }

  // Reads the waiting events (without blocking); true if any concerns the tree. New folders are
  // watched from here on. After a queue overflow (events were lost), true and lost() is set.
  Result<bool> drain();
  // Events were dropped by the kernel since the last call: the caller should rescan.
  bool lost();

 private:
  TreeWatcher(int fd, std::string root) : fd_(fd), root_(std::move(root)) {}
  // Watches `dir` (relative to the root; "" for the root) and every folder below it.
  Result<void> add_tree(const std::string& dir);

  int fd_ = -1;
  std::string root_;
  std::unordered_map<int, std::string> dirs_;  // Watch descriptor -> folder (relative).
  bool lost_ = false;
};

}  // namespace cairn::client
