#include "common/duration.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace cairn {
namespace {

// 2026-11-20T14:30:05.000Z
constexpr int64_t kThen = 1795185005000;

int64_t at(const std::string& text, int64_t now_ms = kThen) {
  auto r = parse_point_in_time(text, now_ms);
  EXPECT_TRUE(r.has_value()) << text << ": " << (r ? "" : r.error().message());
  return r ? *r : -1;
}

TEST(PointInTimeTest, DurationsCountBackFromNow) {
  EXPECT_EQ(at("now"), kThen);
  EXPECT_EQ(at("90s"), kThen - 90'000);
  EXPECT_EQ(at("15m"), kThen - 15 * 60'000);
  EXPECT_EQ(at("3d"), kThen - 3 * 86'400'000LL);
  EXPECT_EQ(at("2w"), kThen - 14 * 86'400'000LL);
}

TEST(PointInTimeTest, AUtcTimeStandsForTheEndOfWhatItNames) {
  EXPECT_EQ(at("2026-11-20T14:30:05Z"), kThen + 999);  // The whole second.
  EXPECT_EQ(at("2026-11-20T14:30:05.250Z"), kThen + 250);
  EXPECT_EQ(at("2026-11-20T14:30Z"), kThen - 5000 + 59'999);  // The whole minute.
  EXPECT_EQ(at("2026-11-20t14:30:05.25z"), kThen + 250);
  EXPECT_EQ(at("2026-11-20T15:30:05+01:00"), kThen + 999);
  EXPECT_EQ(at("2026-11-20T09:30:05-0500"), kThen + 999);
  EXPECT_EQ(at("@1795185005"), kThen + 999);  // `date +%s`, taken just after: that second.
  EXPECT_EQ(at("1795185005"), kThen + 999);
  EXPECT_EQ(at("@1795185005.5"), kThen + 500);
}

TEST(PointInTimeTest, WithoutAnOffsetItIsLocalTime) {
  const char* old = std::getenv("TZ");
  const std::string saved = old != nullptr ? old : "";
  ::setenv("TZ", "UTC0", 1);
  ::tzset();
  EXPECT_EQ(at("2026-11-20 14:30:05"), kThen + 999);
  EXPECT_EQ(at("2026-11-20"), kThen - (14 * 3600 + 30 * 60 + 5) * 1000LL + 86'400'000 - 1);
  ::setenv("TZ", "ABC-2", 1);  // POSIX: two hours east of UTC, no tzdata needed.
  ::tzset();
  EXPECT_EQ(at("2026-11-20T16:30:05"), kThen + 999);
  if (old != nullptr) {
    ::setenv("TZ", saved.c_str(), 1);
  } else {
    ::unsetenv("TZ");
  }
  ::tzset();
}

TEST(PointInTimeTest, AnythingElseIsRefused) {
  for (const char* bad :
       {"", "yesterday", "3", "-3d", "2026-13-01", "2026-11-20T25:00", "2026-11-20T14:30:05Zjunk",
        "2026/11/20", "@", "@abc", "2026-11-20+01:00", "2026-11-20T14:30:05.", "3x", "@1e9", "@-5",
        "@12.", "@12.x", "12345678", "@ 12",
        // Before 1970 (found by tests/fuzz/fuzz_time: "9999999999s" was a negative time).
        "9999999999s", "99999w", "1969-12-30"}) {
    auto r = parse_point_in_time(bad, kThen);
    EXPECT_FALSE(r.has_value()) << "accepted: " << bad;
    if (!r) {
      EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
    }
  }
}

}  // namespace
}  // namespace cairn
