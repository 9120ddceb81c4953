#include "common/paths.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "common/file_io.h"

namespace cairn {
namespace {

TEST(PathsTest, BelowMatchesWholeNamesOnly) {
  EXPECT_TRUE(is_below("a/b", "a"));
  EXPECT_TRUE(is_below("a/b/c", "a"));
  EXPECT_FALSE(is_below("a", "a"));
  EXPECT_FALSE(is_below("ab", "a"));
  EXPECT_FALSE(is_below("a", "a/b"));
  EXPECT_TRUE(is_below("/docs/x", "/docs"));
  EXPECT_FALSE(is_below("/docsx", "/docs"));
}

TEST(PathsTest, EachRootIsAboveEverythingButItself) {
  // A working copy's root is "", the remote root "/".
  EXPECT_TRUE(is_below("a", ""));
  EXPECT_FALSE(is_below("", ""));
  EXPECT_TRUE(is_below("/a", "/"));
  EXPECT_TRUE(is_below("/a/b", "/"));
  EXPECT_FALSE(is_below("/", "/"));
  EXPECT_TRUE(is_within("", ""));
  EXPECT_TRUE(is_within("/", "/"));
  EXPECT_TRUE(is_within("x/y", ""));
}

TEST(PathsTest, OverlapsEitherWay) {
  EXPECT_TRUE(overlaps("a", "a"));
  EXPECT_TRUE(overlaps("a", "a/b"));
  EXPECT_TRUE(overlaps("a/b", "a"));
  EXPECT_FALSE(overlaps("a/b", "a/c"));
  EXPECT_FALSE(overlaps("ab", "a"));
}

TEST(FileIoTest, PreadFullReadsToTheEndAndSaysHowFar) {
  char name[] = "/tmp/cairn-file-io-XXXXXX";
  const int fd = ::mkstemp(name);
  ASSERT_GE(fd, 0);
  const std::string text = "0123456789";
  ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  char buf[8] = {};
  auto got = pread_full(fd, buf, 4, 3);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, 4u);
  EXPECT_EQ(std::string(buf, 4), "3456");
  got = pread_full(fd, buf, 8, 6);  // Past the end: what there is.
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, 4u);
  EXPECT_EQ(std::string(buf, 4), "6789");
  ::close(fd);
  ::unlink(name);
  EXPECT_FALSE(pread_full(fd, buf, 1, 0));  // A closed descriptor is an error, not 0 bytes.
}

TEST(FileIoTest, ErrnoErrorNamesWhatFailedAndMapsNotFoundAndFullDisks) {
  const Error missing = errno_error("open /nowhere", ENOENT);
  EXPECT_EQ(missing.code(), ErrorCode::kNotFound);
  EXPECT_NE(missing.message().find("open /nowhere: "), std::string::npos);
  // A full disk is its own kind: the daemon answers 507 storage_full, the client exits 8.
  EXPECT_EQ(errno_error("write", ENOSPC).code(), ErrorCode::kStorageFull);
  EXPECT_EQ(errno_error("write", EDQUOT).code(), ErrorCode::kStorageFull);
  EXPECT_EQ(errno_error("write", EIO).code(), ErrorCode::kIo);
  EXPECT_EQ(error_code_from_name(error_code_name(ErrorCode::kStorageFull)),
            ErrorCode::kStorageFull);
}

TEST(FileIoTest, AnUnnamedTempFileHoldsWhatIsWrittenAndLeavesNothingBehind) {
  char dir[] = "/tmp/cairn-spill-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  int fd = -1;
  {
    auto file = open_unnamed_temp(dir);
    ASSERT_TRUE(file) << file.error().message();
    fd = file->get();
    Bytes data(3 * 1024 * 1024 + 17);
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::byte>(i * 7 + i / 4096);
    ASSERT_TRUE(write_full(fd, data));
    Bytes back(data.size());
    auto got = pread_full(fd, back.data(), back.size(), 0);
    ASSERT_TRUE(got);
    EXPECT_EQ(*got, data.size());
    EXPECT_EQ(back, data);
    // No name in the folder while it is open either: nothing to clean up after a crash.
    EXPECT_TRUE(std::filesystem::is_empty(dir));
    UniqueFd moved = std::move(*file);
    EXPECT_FALSE(*file);
    EXPECT_EQ(moved.get(), fd);
  }
  // Closed with its owner.
  char byte = 0;
  EXPECT_FALSE(pread_full(fd, &byte, 1, 0));
  EXPECT_EQ(::rmdir(dir), 0);
  auto missing = open_unnamed_temp(std::string(dir) + "/gone");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message().find("/gone"), std::string::npos);
  EXPECT_FALSE(write_full(-1, as_bytes("x")));  // A bad descriptor is an error.
}

}  // namespace
}  // namespace cairn
