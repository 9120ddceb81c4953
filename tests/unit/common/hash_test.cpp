#include "common/hash.h"

#include <gtest/gtest.h>

#include <string>

namespace cairn {
namespace {

// FIPS 180-2 / NIST example vectors.
TEST(Sha256Test, KnownAnswers) {
  EXPECT_EQ(sha256(as_bytes("")).hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256(as_bytes("abc")).hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256(as_bytes("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")).hex(),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  const std::string million_a(1000000, 'a');
  EXPECT_EQ(sha256(as_bytes(million_a)).hex(),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256Test, IncrementalMatchesOneShotAndResets) {
  const std::string text = "the quick brown fox jumps over the lazy dog";
  Sha256 h;
  h.update(as_bytes(text.substr(0, 10)));
  h.update(as_bytes(text.substr(10)));
  EXPECT_EQ(h.finish(), sha256(as_bytes(text)));
  h.update(as_bytes("abc"));
  EXPECT_EQ(h.finish(), sha256(as_bytes("abc")));
}

TEST(DigestTest, HexRoundTripAndRejectsBadInput) {
  const Digest d = sha256(as_bytes("x"));
  auto parsed = Digest::from_hex(d.hex());
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(*parsed, d);
  EXPECT_FALSE(Digest::from_hex("abc").has_value());
  EXPECT_FALSE(Digest::from_hex(std::string(64, 'g')).has_value());
  EXPECT_FALSE(Digest::from_hex(d.hex() + "00").has_value());
}

TEST(Xxh3Test, IncrementalMatchesOneShot) {
  const std::string text(10000, 'q');
  Xxh3 h;
  h.update(as_bytes(std::string_view(text).substr(0, 1234)));
  h.update(as_bytes(std::string_view(text).substr(1234)));
  EXPECT_EQ(h.digest(), xxh3_64(as_bytes(text)));
  EXPECT_NE(xxh3_64(as_bytes("a")), xxh3_64(as_bytes("b")));
}

}  // namespace
}  // namespace cairn

namespace cairn {
namespace {

// RFC 4231 test case 2.
TEST(HmacTest, Rfc4231Case2) {
  EXPECT_EQ(hmac_sha256(as_bytes("Jefe"), as_bytes("what do ya want for nothing?")).hex(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(RandomTest, ProducesDistinctValues) {
  EXPECT_EQ(secure_random(32).size(), 32u);
  EXPECT_NE(secure_random(16), secure_random(16));
  EXPECT_TRUE(constant_time_equal(as_bytes("abc"), as_bytes("abc")));
  EXPECT_FALSE(constant_time_equal(as_bytes("abc"), as_bytes("abd")));
  EXPECT_FALSE(constant_time_equal(as_bytes("abc"), as_bytes("ab")));
}

}  // namespace
}  // namespace cairn
