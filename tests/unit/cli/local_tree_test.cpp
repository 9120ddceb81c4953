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

// A download put where the plan saw nothing never replaces what appeared there since; where it
// replaces a file the plan saw, it does.
TEST(LocalTreeTest, PlacingWithoutReplacingRefusesAnythingAlreadyThere) {
  testing::TempDir dir;
  const std::string root = dir.path() + "/wc";
  const std::string temp = dir.path() + "/temp";
  fs::create_directories(root);
  const auto read = [](const std::string& path) {
    std::ifstream in(path);
    std::string text;
    std::getline(in, text);
    return text;
  };
  LocalTree tree(root);

  std::ofstream(temp) << "downloaded";
  ASSERT_TRUE(tree.place(temp, "new/file.txt", /*replace=*/false).has_value());
  EXPECT_EQ(read(root + "/new/file.txt"), "downloaded");

  std::ofstream(root + "/new/edited.txt") << "local edit";
  std::ofstream(temp) << "server's";
  auto refused = tree.place(temp, "new/edited.txt", /*replace=*/false);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(read(root + "/new/edited.txt"), "local edit");
  EXPECT_TRUE(fs::exists(temp));  // Left for the caller to remove.

  fs::create_directories(root + "/new/folder");
  EXPECT_EQ(tree.place(temp, "new/folder", false).error().code(), ErrorCode::kAlreadyExists);

  ASSERT_TRUE(tree.place(temp, "new/edited.txt", /*replace=*/true).has_value());
  EXPECT_EQ(read(root + "/new/edited.txt"), "server's");
}

// Folders found missing answer for everything under them without a system call, until the tree
// makes or moves a folder.
TEST(LocalTreeTest, AMissingFolderIsRememberedUntilTheTreeMakesOne) {
  testing::TempDir dir;
  const std::string root = dir.path();
  LocalTree tree(root);
  EXPECT_FALSE(tree.known_missing("a/b/c.txt"));
  ASSERT_TRUE(tree.check_parents("a/b/c.txt").has_value());  // "a" is missing: fine.
  EXPECT_TRUE(tree.known_missing("a/b/c.txt"));
  EXPECT_TRUE(tree.known_missing("a/d.txt"));
  EXPECT_FALSE(tree.known_missing("e/f.txt"));
  EXPECT_FALSE(tree.known_missing("top.txt"));

  ASSERT_TRUE(tree.make_folders("a/b").has_value());
  EXPECT_FALSE(tree.known_missing("a/b/c.txt"));
  ASSERT_TRUE(tree.check_parents("a/b/c.txt").has_value());
  EXPECT_FALSE(tree.known_missing("a/b/c.txt"));

  // Made by the tree while placing a file: forgotten too.
  ASSERT_TRUE(tree.check_parents("g/h.txt").has_value());
  EXPECT_TRUE(tree.known_missing("g/h.txt"));
  std::ofstream(root + "/temp") << "x";
  ASSERT_TRUE(tree.place(root + "/temp", "g/h.txt", false).has_value());
  EXPECT_FALSE(tree.known_missing("g/i.txt"));
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
