#include "common/conflict_name.h"

#include <gtest/gtest.h>

#include "common/remote_path.h"

namespace cairn {
namespace {

// 2026-11-26 08:15:03 UTC.
constexpr int64_t kWhen = 1'795'680'903LL * 1'000'000'000 + 123;

TEST(ConflictNameTest, NamesTheDeviceAndTheEditTimeInUtc) {
  EXPECT_EQ(conflicted_copy_name("report.txt", "laptop", kWhen),
            "report (conflicted copy from laptop 2026-11-26 081503).txt");
  EXPECT_EQ(conflicted_copy_name("report.txt", "laptop", kWhen, 2),
            "report (conflicted copy 2 from laptop 2026-11-26 081503).txt");
  EXPECT_EQ(conflicted_copy_name("Makefile", "ci", kWhen),
            "Makefile (conflicted copy from ci 2026-11-26 081503)");
  EXPECT_EQ(conflicted_copy_name(".bashrc", "ci", kWhen),
            ".bashrc (conflicted copy from ci 2026-11-26 081503)");
  EXPECT_EQ(conflicted_copy_name("archive.tar.gz", "ci", kWhen),
            "archive.tar (conflicted copy from ci 2026-11-26 081503).gz");
}

TEST(ConflictNameTest, CopiesNeverNest) {
  const std::string first = conflicted_copy_name("plan.md", "desk", kWhen);
  EXPECT_TRUE(is_conflicted_copy(first));
  EXPECT_FALSE(is_conflicted_copy("plan.md"));
  EXPECT_FALSE(is_conflicted_copy("notes (draft).md"));
  EXPECT_EQ(conflicted_copy_name(first, "laptop", kWhen),
            "plan (conflicted copy from laptop 2026-11-26 081503).md");
  EXPECT_EQ(conflicted_copy_name(conflicted_copy_name("plan.md", "desk", kWhen, 3), "desk", kWhen),
            first);
}

TEST(ConflictNameTest, StaysAValidNameWhateverTheInput) {
  const std::string dev = conflicted_copy_name("a.txt", "host/with\x01odd", kWhen);
  EXPECT_EQ(dev, "a (conflicted copy from host_with_odd 2026-11-26 081503).txt");
  EXPECT_EQ(conflicted_copy_name("a.txt", "", kWhen),
            "a (conflicted copy from unknown 2026-11-26 081503).txt");
  // A long name is shortened in its stem, on a character boundary, never in the suffix.
  std::string long_name;
  for (int i = 0; i < 120; ++i) long_name += "é";  // 240 bytes.
  const std::string copy = conflicted_copy_name(long_name + ".txt", std::string(200, 'd'), kWhen);
  EXPECT_LE(copy.size(), kMaxNameBytes);
  EXPECT_TRUE(normalize_remote_name(copy).has_value()) << copy;
  EXPECT_TRUE(is_conflicted_copy(copy));
  EXPECT_NE(copy.find(".txt"), std::string::npos);
}

}  // namespace
}  // namespace cairn
