#pragma once

// Writes into a working copy without ever following a symlink inside it.
//
// Every path given is relative to the working copy's root and is checked first: it must be one a
// remote path could map to (no empty, "." or ".." segment, no ".cairn": the state folder is the
// client's own). It is then walked from the root one folder at a time with
// openat(O_NOFOLLOW | O_DIRECTORY): a symlink anywhere on the way (synced from the server, or made
// here by hand) is refused with kConflict naming it, instead of being written through, and
// nothing outside the working copy is ever created, replaced or moved.
//
// The folders opened on the way stay open (a bounded number) until this object renames or
// removes a folder, or is destroyed. One owner: not safe to share between threads.
//
// A folder of the user's whose mode forbids writing (a synced 0555 folder) does not stop the
// tree from doing what a sync asks: it is made writable for the owner while this object works in
// it, and gets its mode back at relock() or destruction.

#include <sys/types.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/error.h"

namespace cairn::client {

class LocalTree {
 public:
  explicit LocalTree(std::string root);
  ~LocalTree();
  LocalTree(const LocalTree&) = delete;
  LocalTree& operator=(const LocalTree&) = delete;

  // kInvalidArgument unless `rel` is a path inside a working copy this client would write.
  static Result<void> check(std::string_view rel);

  // kConflict if a folder on the way to `rel` is a symlink or a file here; fine if one is
  // missing (nothing is made).
  Result<void> check_parents(const std::string& rel);

  // Makes the folder `rel` and its missing parents (mkdir -p). Returns whether `rel` itself was
  // made. kAlreadyExists if a file or symlink is where a folder should be.
  Result<bool> make_folders(const std::string& rel);

  // True if a folder above `rel` was found missing and the tree has made or moved no folder
  // since: `rel` is not there either.
  bool known_missing(const std::string& rel) const;

  // Renames the file at `from_abs` (a temporary file of the client's, outside the tree's paths)
  // to `rel`, making `rel`'s parents; replaces a file or symlink there, never a folder. With
  // `replace` false, kAlreadyExists if anything is at `rel`, checked by the rename itself (no
  // window between a check and the rename, and no stat for it).
  Result<void> place(const std::string& from_abs, const std::string& rel, bool replace = true);

  // Renames `from` to `to`, both inside the tree; makes `to`'s parents. With `replace` false,
  // kAlreadyExists if `to` exists.
  Result<void> rename(const std::string& from, const std::string& to, bool replace = false);

  // Moves `rel` out of the tree to `to_abs` (the client's trash), whose folder must exist.
  Result<void> move_out(const std::string& rel, const std::string& to_abs);

  // Removes the empty folder `rel`: true if it is gone (or was not there), false if it is not
  // empty.
  Result<bool> remove_folder(const std::string& rel);

  // Sets the permission bits of the file or folder `rel`; kConflict if it is a symlink (whose
  // target's mode this never changes).
  Result<void> set_mode(const std::string& rel, uint32_t mode);

  // Gives back their modes to the folders made writable meanwhile.
  void relock();

 private:
  // An open descriptor of the folder `rel` ("" for the root), made with its parents if
  // `create`; kNotFound if missing and not `create`.
  Result<int> folder(const std::string& rel, bool create);
  // The folder holding `rel`, and `rel`'s last segment.
  Result<std::pair<int, std::string>> parent_of(const std::string& rel, bool create);
  void forget_folders();
  // Closes every open folder if there are too many; only between operations, never during one.
  void trim();
  // Runs `op` (a syscall's result: 0 or -1 with errno) on what the folders `fds` hold; if it
  // was refused for want of write permission on a folder of the user's, makes them writable
  // for the owner (remembered for relock) and runs it again.
  template <typename Op>
  int writing_in(std::initializer_list<int> fds, Op op);

  std::string root_;
  int root_fd_ = -1;
  std::unordered_map<std::string, int> open_;
  // Folders found missing since the tree last made or moved one: a plan over thousands of new
  // files asks about each, and the answer is known without a system call. Cleared by every
  // change that could make one.
  std::unordered_set<std::string> missing_;
  std::vector<std::pair<int, mode_t>> unlocked_;  // A descriptor of each, and its own mode.
};

}  // namespace cairn::client
