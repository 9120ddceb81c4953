#include "cli/client/tree/local_tree.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/unit/daemon/test_dir.h"

namespace cairn::client {
namespace {

namespace fs = std::filesystem;

mode_t mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

TEST(LocalTreeTest, SetModeChangesFilesAndFoldersNeverASymlinkTarget) {
  testing::TempDir dir;
  const std::string root = dir.path();
  fs::create_directories(root + "/keys");
  std::ofstream(root + "/keys/id") << "secret";
  std::ofstream(root + "/outside") << "not ours to change";
  ::chmod((root + "/outside").c_str(), 0644);
  ASSERT_EQ(::symlink((root + "/outside").c_str(), (root + "/keys/link").c_str()), 0);

  LocalTree tree(root);
  ASSERT_TRUE(tree.set_mode("keys/id", 0600).has_value());
  EXPECT_EQ(mode_of(root + "/keys/id"), 0600u);
  ASSERT_TRUE(tree.set_mode("keys", 0700).has_value());
  EXPECT_EQ(mode_of(root + "/keys"), 0700u);

  auto through = tree.set_mode("keys/link", 0777);
  ASSERT_FALSE(through.has_value());
  EXPECT_EQ(through.error().code(), ErrorCode::kConflict);
  EXPECT_EQ(mode_of(root + "/outside"), 0644u);
  EXPECT_EQ(tree.set_mode("keys/missing", 0600).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(tree.set_mode("../outside", 0600).error().code(), ErrorCode::kInvalidArgument);
}

// A folder its owner keeps read-only still takes what a sync puts in it, and keeps its mode.
// Root writes anywhere, so the work runs in a child that is an ordinary user.
TEST(LocalTreeTest, AReadOnlyFolderOfTheUsersTakesFilesAndGetsItsModeBack) {
  testing::TempDir dir;
  const std::string root = dir.path() + "/wc";
  fs::create_directories(root + "/sealed/inner");
  std::ofstream(root + "/sealed/old.txt") << "old";
  std::ofstream(root + "/incoming") << "new";  // Like .cairn/tmp: the user's own folder.
  const uid_t user = ::geteuid() == 0 ? 65534 : ::geteuid();
  const gid_t group = ::geteuid() == 0 ? 65534 : ::getegid();
  if (::geteuid() == 0) {
    ::chmod(dir.path().c_str(), 0755);
    for (const auto& p : {root + "/incoming", root, root + "/sealed", root + "/sealed/inner",
                          root + "/sealed/old.txt"}) {
      ASSERT_EQ(::chown(p.c_str(), user, group), 0) << p;
    }
  }
  ::chmod((root + "/sealed/inner").c_str(), 0555);
  ::chmod((root + "/sealed").c_str(), 0555);

  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (::geteuid() == 0 && (::setgid(group) != 0 || ::setuid(user) != 0)) ::_exit(10);
    int failed = 0;
    {
      LocalTree tree(root);
      if (!tree.place(root + "/incoming", "sealed/new.txt")) failed |= 1;
      if (!tree.make_folders("sealed/inner/made")) failed |= 2;
      if (!tree.rename("sealed/old.txt", "sealed/inner/old.txt")) failed |= 4;
      tree.relock();
      // Once relocked, the folder refuses again: the mode really came back.
      std::ofstream(root + "/sealed/after.txt") << "x";
    }  // The destructor relocks too: nothing left to give back here.
    ::_exit(failed);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_TRUE(fs::exists(root + "/sealed/new.txt"));
  EXPECT_TRUE(fs::is_directory(root + "/sealed/inner/made"));
  EXPECT_TRUE(fs::exists(root + "/sealed/inner/old.txt"));
  EXPECT_FALSE(fs::exists(root + "/sealed/after.txt"));
  EXPECT_EQ(mode_of(root + "/sealed"), 0555u);
  EXPECT_EQ(mode_of(root + "/sealed/inner"), 0555u);
  // So that the temp folder can be removed.
  ::chmod((root + "/sealed/inner").c_str(), 0755);
  ::chmod((root + "/sealed").c_str(), 0755);
}

}  // namespace
}  // namespace cairn::client
