#include "cli/client/net/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "tests/unit/daemon/test_dir.h"

namespace cairn::client {
namespace {

TEST(ConfigTest, ParsesRemoteUrls) {
  auto a = parse_remote_url("http://127.0.0.1:8080/photos/2026/");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->server, "http://127.0.0.1:8080");
  EXPECT_EQ(a->path, "/photos/2026");
  auto b = parse_remote_url("https://example.test");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->path, "/");
  for (const char* bad : {"ftp://x/y", "127.0.0.1:8080/x", "http://", "http://h/a/../b"}) {
    auto r = parse_remote_url(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument) << bad;
  }
}

TEST(ConfigTest, SavesTheTokenWithMode0600AndLoadsIt) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/sub/config";
  ::setenv("CAIRN_CONFIG", path.c_str(), 1);
  EXPECT_TRUE(load_user_config()->token.empty());  // Missing file: empty config.
  ASSERT_TRUE(save_user_config({"http://h:1", "cairn_secret"}));
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto loaded = load_user_config();
  EXPECT_EQ(loaded->server, "http://h:1");
  EXPECT_EQ(loaded->token, "cairn_secret");
  ::unsetenv("CAIRN_CONFIG");
}

}  // namespace
}  // namespace cairn::client
