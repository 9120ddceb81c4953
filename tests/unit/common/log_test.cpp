#include "common/protocol/log.h"

#include <gtest/gtest.h>

namespace cairn::log {
namespace {

TEST(LogTest, OneJsonObjectWithTheFixedFieldsFirst) {
  const std::string line =
      format_line(1'780'000'000'123, Level::kWarn, "damage_set_aside", "set aside",
                  {{"chunk", "ab12"}, {"bytes", uint64_t{4096}}, {"status", 200}});
  EXPECT_EQ(line, R"({"ts":"2026-05-28T20:26:40.123Z","level":"warn","event":"damage_set_aside",)"
                  R"("msg":"set aside","chunk":"ab12","bytes":4096,"status":200})");
}

TEST(LogTest, WhatAClientSentIsEscapedNeverRaw) {
  // A path with quotes, a newline (which would forge a second line) and bytes that are not UTF-8.
  const std::string path = "/v1/\"x\"\n{\"level\":\"error\"}\xff\xfe";
  const std::string line = format_line(0, Level::kInfo, "request", "", {{"path", path}});
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_NE(line.find(R"(\"x\"\n{\"level\":\"error\"})"), std::string::npos) << line;
  EXPECT_NE(line.find("\xef\xbf\xbd"), std::string::npos) << "replacement character";
  EXPECT_EQ(line.find("\"msg\""), std::string::npos) << "an empty msg is left out";
}

TEST(LogTest, LevelsParseAndFilter) {
  EXPECT_EQ(parse_level("debug").value(), Level::kDebug);
  EXPECT_EQ(parse_level("error").value(), Level::kError);
  auto bad = parse_level("loud");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  set_level(Level::kWarn);
  EXPECT_FALSE(enabled(Level::kInfo));
  EXPECT_TRUE(enabled(Level::kWarn));
  EXPECT_TRUE(enabled(Level::kError));
  set_level(Level::kInfo);
  EXPECT_TRUE(enabled(Level::kInfo));
  EXPECT_FALSE(enabled(Level::kDebug));
}

}  // namespace
}  // namespace cairn::log
