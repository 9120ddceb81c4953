#include "common/remote_path.h"

#include <gtest/gtest.h>

namespace cairn {
namespace {

std::string ok(std::string_view in) {
  auto r = normalize_remote_path(in);
  EXPECT_TRUE(r.has_value()) << in << ": " << (r ? "" : r.error().message());
  return r ? *r : "";
}

void rejected(std::string_view in) {
  auto r = normalize_remote_path(in);
  ASSERT_FALSE(r.has_value()) << "accepted: " << in;
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
}

TEST(RemotePathTest, CanonicalForms) {
  EXPECT_EQ(ok(""), "/");
  EXPECT_EQ(ok("/"), "/");
  EXPECT_EQ(ok("a"), "/a");
  EXPECT_EQ(ok("/a/b c/d.txt"), "/a/b c/d.txt");
  EXPECT_EQ(ok("/a/b/"), "/a/b");
  EXPECT_EQ(ok("..a/b..c/.hidden"), "/..a/b..c/.hidden");
}

TEST(RemotePathTest, NormalisesToNfc) {
  // "e" + combining acute accent becomes the precomposed U+00E9.
  EXPECT_EQ(ok("/cafe\xCC\x81"), "/caf\xC3\xA9");
  EXPECT_EQ(ok("/caf\xC3\xA9"), "/caf\xC3\xA9");
  EXPECT_EQ(ok("/日本語/файл"), "/日本語/файл");
}

TEST(RemotePathTest, RejectsBadPaths) {
  rejected("/a/../b");
  rejected("..");
  rejected("/a/./b");
  rejected("/a//b");
  rejected("//");
  rejected(std::string_view("/a\0b", 4));
  rejected("/a\nb");
  rejected("/a\x7f");
  rejected("/\xff\xfe");  // Not UTF-8.
  rejected("/\xC0\xAF");  // Overlong encoding of '/'.
  rejected("/" + std::string(256, 'n'));
  rejected("/" + std::string(4096, 'a'));
}

TEST(RemotePathTest, TheStateFolderNameIsReservedEverywhere) {
  rejected("/.cairn");
  rejected(".cairn/state.db");
  rejected("/docs/.cairn/pwned.txt");
  rejected("/docs/.CAIRN");  // A case-insensitive file system takes it for .cairn.
  rejected("/.Cairn/x");
  EXPECT_FALSE(normalize_remote_name(".cairn").has_value());
  // Only the exact name: its neighbours are ordinary names.
  EXPECT_EQ(ok("/.cairnignore"), "/.cairnignore");
  EXPECT_EQ(ok("/a/.cairn2/.cairn-old/cairn"), "/a/.cairn2/.cairn-old/cairn");
}

TEST(RemotePathTest, LengthLimitsAreInclusive) {
  EXPECT_EQ(ok("/" + std::string(255, 'n')).size(), 256u);
  std::string long_path;
  while (long_path.size() + 101 <= 4096) long_path += "/" + std::string(100, 'p');
  EXPECT_EQ(ok(long_path), long_path);
}

TEST(RemotePathTest, Helpers) {
  EXPECT_EQ(split_remote_path("/"), std::vector<std::string>{});
  EXPECT_EQ(split_remote_path("/a/b"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(join_remote_path("/", "a"), "/a");
  EXPECT_EQ(join_remote_path("/a", "b"), "/a/b");
  EXPECT_EQ(remote_parent("/a/b"), "/a");
  EXPECT_EQ(remote_parent("/a"), "/");
  EXPECT_EQ(remote_basename("/a/b"), "b");
  EXPECT_FALSE(normalize_remote_name("a/b").has_value());
  EXPECT_FALSE(normalize_remote_name("..").has_value());
  EXPECT_EQ(*normalize_remote_name("ok.txt"), "ok.txt");
}

}  // namespace
}  // namespace cairn
