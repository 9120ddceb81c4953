#include <gtest/gtest.h>

#include "daemon/api/http_types.h"
#include "daemon/api/router.h"

namespace cairn::api {
namespace {

TEST(HttpTypesTest, StatusMapping) {
  EXPECT_EQ(http_status_for(ErrorCode::kInvalidArgument), 400);
  EXPECT_EQ(http_status_for(ErrorCode::kUnauthenticated), 401);
  EXPECT_EQ(http_status_for(ErrorCode::kPermissionDenied), 403);
  EXPECT_EQ(http_status_for(ErrorCode::kNotFound), 404);
  EXPECT_EQ(http_status_for(ErrorCode::kConflict), 409);
  EXPECT_EQ(http_status_for(ErrorCode::kTooLarge), 413);
  EXPECT_EQ(http_status_for(ErrorCode::kCorrupt), 422);
  EXPECT_EQ(http_status_for(ErrorCode::kUnavailable), 503);
  EXPECT_EQ(http_status_for(ErrorCode::kStorageFull), 507);
  const auto r = HttpResponse::error(Error(ErrorCode::kNotFound, "no such file"));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, R"({"error":{"code":"not_found","message":"no such file"}})");
}

TEST(HttpTypesTest, UrlDecodingAndQueries) {
  EXPECT_EQ(*url_decode("a%20b%2Fc", false), "a b/c");
  EXPECT_EQ(*url_decode("a+b", true), "a b");
  EXPECT_EQ(*url_decode("a+b", false), "a+b");
  EXPECT_EQ(*url_decode("%C3%A9", false), "\xC3\xA9");
  EXPECT_FALSE(url_decode("%", false).has_value());
  EXPECT_FALSE(url_decode("%4", false).has_value());
  EXPECT_FALSE(url_decode("%zz", false).has_value());
  const auto q = parse_query("path=%2Fdocs%2Fa%20b&limit=5&flag&=x&bad=%zz");
  EXPECT_EQ(q.at("path"), "/docs/a b");
  EXPECT_EQ(q.at("limit"), "5");
  EXPECT_EQ(q.at("flag"), "");
  EXPECT_EQ(q.count("bad"), 0u);
  EXPECT_EQ(q.size(), 3u);
}

TEST(RouterTest, ExactPrefixAndMethodMatching) {
  Router router;
  router.add("GET", "/v1/list", [](const HttpRequest&, const std::string&) {
    return HttpResponse::json(200, "list");
  });
  router.add("GET", "/v1/chunks/*",
             [](const HttpRequest&, const std::string& p) { return HttpResponse::json(200, p); });
  auto m = router.match("GET", "/v1/chunks/abc");
  ASSERT_NE(m.handler, nullptr);
  EXPECT_EQ(m.param, "abc");
  EXPECT_EQ(router.match("GET", "/v1/chunks/").handler, nullptr);
  auto wrong_method = router.match("POST", "/v1/list");
  EXPECT_EQ(wrong_method.handler, nullptr);
  EXPECT_TRUE(wrong_method.path_known);
  auto unknown = router.match("GET", "/v1/listing");
  EXPECT_EQ(unknown.handler, nullptr);
  EXPECT_FALSE(unknown.path_known);
}

}  // namespace
}  // namespace cairn::api
