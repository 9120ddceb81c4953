#include "cli/client/tree/scanner.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "cli/client/tree/file_hasher.h"
#include "tests/unit/daemon/test_dir.h"

namespace cairn::client {
namespace {

namespace fs = std::filesystem;
using protocol::NodeKind;

TEST(ScannerTest, ReportsFilesFoldersLinksAndSkipsWhatCannotSync) {
  testing::TempDir dir;
  const std::string root = dir.path();
  fs::create_directories(root + "/a/b");
  fs::create_directories(root + "/empty");
  fs::create_directories(root + "/.cairn/tmp");
  std::ofstream(root + "/a/b/file.txt") << "hello";
  std::ofstream(root + "/.cairn/state.db") << "x";
  std::ofstream(root + "/caf\xC3\xA9.txt") << "nfc";
  std::ofstream(root + "/cafe\xCC\x81.txt") << "nfd";  // Not NFC: would change name remotely.
  std::ofstream(root + "/bad\x01name") << "ctl";
  ::symlink("a/b/file.txt", (root + "/link").c_str());
  ::mkfifo((root + "/pipe").c_str(), 0644);

  auto scan = scan_tree(root);
  ASSERT_TRUE(scan.has_value()) << scan.error().message();
  std::vector<std::string> paths;
  for (const auto& e : scan->entries) paths.push_back(e.path);
  EXPECT_EQ(paths, (std::vector<std::string>{"a", "a/b", "a/b/file.txt", "caf\xC3\xA9.txt", "empty",
                                             "link"}));
  EXPECT_EQ(scan->skipped.size(), 3u);  // NFD name, control character, fifo.
  const auto& file = scan->entries[2];
  EXPECT_EQ(file.kind, NodeKind::kFile);
  EXPECT_EQ(file.size, 5u);
  EXPECT_NE(file.inode, 0u);
  const auto& link = scan->entries.back();
  EXPECT_EQ(link.kind, NodeKind::kSymlink);
  EXPECT_EQ(link.target, "a/b/file.txt");

  auto st = stat_entry(root, "a/b/file.txt");
  ASSERT_TRUE(st.has_value());
  EXPECT_TRUE(same_stat(*st, file.size, file.mtime_ns, file.inode, file.mode, "", file.kind));
  std::ofstream(root + "/a/b/file.txt", std::ios::app) << "!";
  auto changed = stat_entry(root, "a/b/file.txt");
  EXPECT_FALSE(same_stat(*changed, file.size, file.mtime_ns, file.inode, file.mode, "", file.kind));
  EXPECT_EQ(stat_entry(root, "nope").error().code(), ErrorCode::kNotFound);
}

// The scan's threads share the folders among them: whatever the tree's shape, every entry comes
// once, sorted, and .cairnignore files deep in it act on their own folders only.
TEST(ScannerTest, AWideAndDeepTreeIsReadWhole) {
  testing::TempDir dir;
  const std::string root = dir.path();
  std::vector<std::string> expected;
  for (int top = 0; top < 6; ++top) {
    std::string folder = "t" + std::to_string(top);
    for (int depth = 0; depth < 5; ++depth) {
      fs::create_directories(root + "/" + folder);
      expected.push_back(folder);
      for (int f = 0; f < 20; ++f) {
        const std::string file = folder + "/f" + std::to_string(f) + (f % 5 == 0 ? ".log" : "");
        std::ofstream(root + "/" + file) << file;
        if (!(top == 2 && f % 5 == 0 && depth >= 2)) expected.push_back(file);
      }
      if (top == 2 && depth == 2) std::ofstream(root + "/" + folder + "/.cairnignore") << "*.log\n";
      if (top == 2 && depth == 2) expected.push_back(folder + "/.cairnignore");
      folder += "/d" + std::to_string(depth);
    }
  }
  fs::create_directories(root + "/t5/skipped");
  std::ofstream(root + "/.cairnignore") << "skipped/\n";
  expected.push_back(".cairnignore");
  std::sort(expected.begin(), expected.end());

  for (int round = 0; round < 5; ++round) {
    auto scan = scan_tree(root);
    ASSERT_TRUE(scan.has_value()) << scan.error().message();
    std::vector<std::string> paths;
    for (const auto& e : scan->entries) paths.push_back(e.path);
    EXPECT_EQ(paths, expected);
    EXPECT_EQ(scan->ignored, 1u + 3 * 4);  // skipped/, and four .log files at each of 3 depths.
  }
}

// A file changed again within its file system's timestamp granularity keeps size and mtime: a
// record made in that window holds no mtime, and the file is compared by content.
TEST(ScannerTest, ARacilyCleanRecordIsCheckedByContent) {
  testing::TempDir dir;
  const std::string root = dir.path();
  std::ofstream(root + "/f.txt") << "first";
  auto st = stat_entry(root, "f.txt");
  ASSERT_TRUE(st.has_value());
  BaseRecord b = base_from_stat(*st, 1, 7);
  EXPECT_EQ(b.mtime_ns, 0);  // Just written: racy.
  b.xxh3 = *fingerprint_file(root + "/f.txt");
  EXPECT_TRUE(unchanged_since(root, *st, b));

  // The same size, the same mtime (as a second write in the same jiffy leaves it).
  std::ofstream(root + "/f.txt", std::ios::in | std::ios::out) << "FIRST";
  struct timespec times[2] = {{0, UTIME_OMIT},
                              {st->mtime_ns / 1'000'000'000, st->mtime_ns % 1'000'000'000}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (root + "/f.txt").c_str(), times, 0), 0);
  auto again = stat_entry(root, "f.txt");
  ASSERT_TRUE(again.has_value());
  EXPECT_TRUE(same_stat(*again, *st));             // Stat alone cannot tell...
  EXPECT_FALSE(unchanged_since(root, *again, b));  // ... the content does.

  // A file last modified long ago is recorded with its mtime, and trusted by it.
  struct timespec old[2] = {{0, UTIME_OMIT}, {1'600'000'000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (root + "/f.txt").c_str(), old, 0), 0);
  auto settled = stat_entry(root, "f.txt");
  EXPECT_EQ(base_from_stat(*settled, 1, 7).mtime_ns, settled->mtime_ns);
}

}  // namespace
}  // namespace cairn::client
