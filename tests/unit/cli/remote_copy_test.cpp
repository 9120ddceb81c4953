#include "cli/client/sync/remote_copy.h"

#include <gtest/gtest.h>

namespace cairn::client {
namespace {

std::string last_segment(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

TEST(CopyTargetsTest, OneSourceIsTheDestinationUnlessItEndsInASlash) {
  auto exact = copy_targets({"out/build"}, "/ci/42", &last_segment);
  ASSERT_TRUE(exact.has_value());
  EXPECT_EQ(*exact, std::vector<std::string>{""});
  auto inside = copy_targets({"out/build"}, "/ci/42/", &last_segment);
  ASSERT_TRUE(inside.has_value());
  EXPECT_EQ(*inside, std::vector<std::string>{"build"});
}

TEST(CopyTargetsTest, SeveralSourcesEachGoInsideUnderTheirOwnName) {
  auto both = copy_targets({"a.txt", "dir/b"}, "/ci", &last_segment);
  ASSERT_TRUE(both.has_value());
  EXPECT_EQ(*both, (std::vector<std::string>{"a.txt", "b"}));
}

TEST(CopyTargetsTest, ASourceWithoutANameCannotGoInside) {
  for (const char* nameless : {"/", ".", "..", "dir/"}) {
    auto r = copy_targets({"a.txt", nameless}, "/ci", &last_segment);
    ASSERT_FALSE(r.has_value()) << nameless;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument) << nameless;
  }
  // Alone, without a trailing '/', it is the copy itself: no name needed.
  EXPECT_TRUE(copy_targets({"."}, "/ci/all", &last_segment).has_value());
}

}  // namespace
}  // namespace cairn::client
