// /metrics: latency histograms per route, and who may read them.

#include <gtest/gtest.h>

#include "daemon/api/handlers.h"
#include "daemon/api/latency.h"
#include "daemon/api/router.h"

namespace cairn::api {
namespace {

TEST(LatencyHistogramTest, CumulativeBucketsSumAndCount) {
  LatencyHistogram h;
  EXPECT_EQ(h.prometheus("t", "r=\"x\""), "") << "nothing recorded, no lines";
  h.observe(500);         // 0.5 ms: the first bucket
  h.observe(1000);        // exactly 1 ms: still le="0.001"
  h.observe(30'000);      // 30 ms: le="0.05"
  h.observe(90'000'000);  // 90 s: past the last bound
  const std::string text = h.prometheus("t", "r=\"x\"");
  EXPECT_NE(text.find("t_bucket{r=\"x\",le=\"0.001\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_bucket{r=\"x\",le=\"0.025\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_bucket{r=\"x\",le=\"0.05\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_bucket{r=\"x\",le=\"60\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_bucket{r=\"x\",le=\"+Inf\"} 4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_sum{r=\"x\"} 90.031500\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_count{r=\"x\"} 4\n"), std::string::npos) << text;
}

TEST(LatencyHistogramTest, RouterLabelsByPatternNotPath) {
  Router router;
  router.add("GET", "/v1/chunks/*",
             [](const HttpRequest&, const std::string&) { return HttpResponse{}; });
  const auto hit = router.match("GET", "/v1/chunks/abcdef");
  ASSERT_GE(hit.route, 0);
  router.record_latency(hit.route, 2000);
  router.record_latency(router.match("GET", "/nowhere").route, 100);
  const std::string text = router.latency_metrics();
  EXPECT_NE(text.find("_count{method=\"GET\",route=\"/v1/chunks/*\"} 1\n"), std::string::npos)
      << text;
  EXPECT_EQ(text.find("abcdef"), std::string::npos) << "paths never become labels";
  EXPECT_NE(text.find("_count{method=\"\",route=\"unmatched\"} 1\n"), std::string::npos) << text;
}

HttpRequest from(std::string peer, bool forwarded = false, std::string authorization = "") {
  HttpRequest req;
  req.peer = std::move(peer);
  req.forwarded = forwarded;
  req.authorization = std::move(authorization);
  return req;
}

TEST(MetricsAccessTest, LoopbackOrTheMetricsToken) {
  const MetricsAccess none{};
  const MetricsAccess with{"s3cret-metrics-token"};
  for (const char* local : {"127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"}) {
    EXPECT_TRUE(may_read_metrics(from(local), none)) << local;
    EXPECT_FALSE(may_read_metrics(from(local, true), none)) << local << " relayed by a proxy";
  }
  for (const char* remote : {"10.0.0.7", "192.168.1.1", "2001:db8::1", "::ffff:10.0.0.1", ""}) {
    EXPECT_FALSE(may_read_metrics(from(remote), none)) << remote;
    EXPECT_FALSE(may_read_metrics(from(remote), with)) << remote;
    EXPECT_TRUE(may_read_metrics(from(remote, false, "Bearer s3cret-metrics-token"), with));
    EXPECT_FALSE(may_read_metrics(from(remote, false, "Bearer s3cret-metrics-tokeN"), with));
    EXPECT_FALSE(may_read_metrics(from(remote, false, "s3cret-metrics-token"), with));
    EXPECT_FALSE(may_read_metrics(from(remote, false, "Bearer "), none)) << "no token configured";
  }
}

}  // namespace
}  // namespace cairn::api
