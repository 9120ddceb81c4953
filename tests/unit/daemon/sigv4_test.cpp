// Known-answer tests for SigV4. moto_server checks no signatures, so these are what proves the
// signing right: AWS's published examples, and URLs botocore 1.43 produced for fixed inputs
// (script in the test comments so anyone can regenerate them).

#include "daemon/store/s3/sigv4.h"

#include <gtest/gtest.h>

namespace cairn::store::s3 {
namespace {

constexpr int64_t kAug30_2015_123600 = 1440938160;  // 2015-08-30T12:36:00Z
constexpr int64_t kMay24_2013 = 1369353600;         // 2013-05-24T00:00:00Z
constexpr int64_t kJan2_2026_030405 = 1767323045;   // 2026-01-02T03:04:05Z

TEST(SigV4Test, Helpers) {
  EXPECT_EQ(amz_date(kAug30_2015_123600), "20150830T123600Z");
  EXPECT_EQ(uri_encode("a b/c~d*e", true), "a%20b/c~d%2Ae");
  EXPECT_EQ(uri_encode("a b/c", false), "a%20b%2Fc");
  EXPECT_EQ(uri_encode("\xC3\xA9", false), "%C3%A9");
}

// AWS Signature Version 4 test suite, "get-vanilla".
TEST(SigV4Test, AwsTestSuiteGetVanilla) {
  Request r{"GET", "example.amazonaws.com", "/", {}, {}, sha256(as_bytes("")).hex()};
  const Credentials creds{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
  const Headers added = sign_headers(r, creds, Scope{"us-east-1", "service"}, kAug30_2015_123600);
  ASSERT_EQ(added.back().first, "authorization");
  EXPECT_EQ(added.back().second,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

// Amazon S3 API reference, "Example: GET Object" (header signing with a Range header).
TEST(SigV4Test, AwsS3GetObjectExample) {
  const std::string empty_hash = sha256(as_bytes("")).hex();
  Request r{"GET", "examplebucket.s3.amazonaws.com", "/test.txt",
            {},    {{"Range", "bytes=0-9"}},         empty_hash};
  const Credentials creds{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
  Request with_dates = r;
  with_dates.headers.emplace_back("x-amz-content-sha256", empty_hash);
  with_dates.headers.emplace_back("x-amz-date", "20130524T000000Z");
  EXPECT_EQ(canonical_request(with_dates, nullptr),
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
            "x-amz-content-sha256:" +
                empty_hash +
                "\nx-amz-date:20130524T000000Z\n\n"
                "host;range;x-amz-content-sha256;x-amz-date\n" +
                empty_hash);
  const Headers added = sign_headers(r, creds, Scope{}, kMay24_2013);
  EXPECT_EQ(added.back().second,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

// Amazon S3 API reference, "Example: Pre-signed URL" (also what botocore's S3SigV4QueryAuth
// gives for these inputs).
TEST(SigV4Test, AwsS3PresignedGetExample) {
  Request r{"GET", "examplebucket.s3.amazonaws.com", "/test.txt", {}, {}, ""};
  const Credentials creds{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
  EXPECT_EQ(presign_query(r, creds, Scope{}, kMay24_2013, 86400),
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2F"
            "us-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&"
            "X-Amz-SignedHeaders=host&X-Amz-Signature="
            "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
}

// botocore 1.43 S3SigV4QueryAuth(Credentials("testing", "testing", "session-token-1"), "s3",
// "us-east-1", expires=900) on a path-style PUT with x-amz-checksum-sha256 among the signed
// headers, at 2026-01-02T03:04:05Z: the shape of the upload URLs cairnd will hand to clients.
TEST(SigV4Test, BotocorePresignedPutWithChecksumAndSessionToken) {
  const std::string key =
      "/cairn-bucket/chunks/2c/f2/2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
  Request r{"PUT",
            "127.0.0.1:9000",
            key,
            {},
            {{"x-amz-checksum-sha256", "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg="}},
            ""};
  const Credentials creds{"testing", "testing", "session-token-1"};
  EXPECT_EQ(presign_query(r, creds, Scope{}, kJan2_2026_030405, 900),
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=testing%2F20260102%2Fus-east-1%2F"
            "s3%2Faws4_request&X-Amz-Date=20260102T030405Z&X-Amz-Expires=900&"
            "X-Amz-Security-Token=session-token-1&"
            "X-Amz-SignedHeaders=host%3Bx-amz-checksum-sha256&X-Amz-Signature="
            "3dcb14e1f26472b8dfcdd5dd27b26c5c596942d4ef32170f3edf4ebe710ddd76");
}

TEST(SigV4Test, AnyChangeToTheRequestChangesTheSignature) {
  Request r{"PUT", "127.0.0.1:9000", "/b/k", {}, {}, ""};
  const Credentials creds{"id", "secret", ""};
  const std::string base = presign_query(r, creds, Scope{}, kJan2_2026_030405, 900);
  Request other = r;
  other.path = "/b/k2";
  EXPECT_NE(presign_query(other, creds, Scope{}, kJan2_2026_030405, 900), base);
  EXPECT_NE(presign_query(r, {"id", "secret2", ""}, Scope{}, kJan2_2026_030405, 900), base);
  EXPECT_NE(presign_query(r, creds, Scope{"eu-west-1", "s3"}, kJan2_2026_030405, 900), base);
  EXPECT_NE(presign_query(r, creds, Scope{}, kJan2_2026_030405 + 1, 900), base);
}

}  // namespace
}  // namespace cairn::store::s3
