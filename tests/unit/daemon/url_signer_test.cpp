#include "daemon/service/url_signer.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace cairn::service {
namespace {

// The query of a signed URL, as the router hands it over.
std::map<std::string, std::string> query_of(const std::string& url) {
  std::map<std::string, std::string> q;
  const std::string params = url.substr(url.find('?') + 1);
  size_t at = 0;
  while (at < params.size()) {
    size_t amp = params.find('&', at);
    if (amp == std::string::npos) amp = params.size();
    const std::string pair = params.substr(at, amp - at);
    const size_t eq = pair.find('=');
    q[pair.substr(0, eq)] = pair.substr(eq + 1);
    at = amp + 1;
  }
  return q;
}

class UrlSignerTest : public ::testing::Test {
 protected:
  UrlSigner signer_{Bytes(32, std::byte{7})};
  const std::string hex_ = std::string(64, 'a');
};

TEST_F(UrlSignerTest, ASignedUrlVerifiesAndGivesItsNumbersBack) {
  const std::string url =
      signer_.sign("PUT pack", "/v1/packs/", hex_, {{"u", 3}, {"n", 900}}, 1000);
  EXPECT_EQ(url.rfind("/v1/packs/" + hex_ + "?u=3&n=900&e=1000&s=", 0), 0u) << url;
  auto values =
      signer_.verify("PUT pack", hex_, query_of(url), {"u", "n"}, 999, "pack upload", "here");
  ASSERT_TRUE(values) << values.error().message();
  EXPECT_EQ(*values, (std::vector<int64_t>{3, 900}));
}

TEST_F(UrlSignerTest, AnyChangeBreaksTheSignature) {
  const std::string url = signer_.sign("GET chunk", "/v1/chunks/", hex_, {{"u", 3}}, 1000);
  auto q = query_of(url);
  auto refused = [&](const std::map<std::string, std::string>& query, std::string_view purpose,
                     const std::string& hex) {
    auto r = signer_.verify(purpose, hex, query, {"u"}, 10, "chunk read", "here");
    return !r && r.error().code() == ErrorCode::kPermissionDenied;
  };
  auto other_user = q;
  other_user["u"] = "4";
  EXPECT_TRUE(refused(other_user, "GET chunk", hex_));
  auto later = q;
  later["e"] = "2000";
  EXPECT_TRUE(refused(later, "GET chunk", hex_));
  EXPECT_TRUE(refused(q, "PUT", hex_));                        // Another purpose.
  EXPECT_TRUE(refused(q, "GET chunk", std::string(64, 'b')));  // Another object.
  auto unsigned_url = q;
  unsigned_url.erase("s");
  EXPECT_TRUE(refused(unsigned_url, "GET chunk", hex_));
  // Another key.
  UrlSigner stranger{Bytes(32, std::byte{8})};
  EXPECT_FALSE(stranger.verify("GET chunk", hex_, q, {"u"}, 10, "chunk read", "here"));
}

TEST_F(UrlSignerTest, AnExpiredUrlIsRefusedAndSaysSo) {
  const std::string url = signer_.sign("GET pack", "/v1/packs/", hex_, {{"o", 0}}, 1000);
  auto r = signer_.verify("GET pack", hex_, query_of(url), {"o"}, 1001, "pack read", "here");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("pack read URL has expired"), std::string::npos);
}

TEST_F(UrlSignerTest, MissingOrNegativeNumbersAreNotASignedUrl) {
  const std::string url = signer_.sign("PUT", "/v1/chunks/", hex_, {{"u", 1}, {"n", 5}}, 1000);
  auto q = query_of(url);
  q["n"] = "-5";
  auto r = signer_.verify("PUT", hex_, q, {"u", "n"}, 10, "chunk upload", "POST /v1/chunks/check");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("is not signed (get one from POST /v1/chunks/check)"),
            std::string::npos);
}

}  // namespace
}  // namespace cairn::service
