// Rate limits and the tar writer of folder links.

#include <gtest/gtest.h>

#include <cstring>

#include "common/hash.h"
#include "daemon/api/rate_limit.h"
#include "daemon/service/tar.h"

namespace cairn {
namespace {

TEST(RateLimitTest, ParsesRatesAndBursts) {
  auto a = api::parse_rate_limit("100/s,1000");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->per_second, 100);
  EXPECT_EQ(a->burst, 1000);
  auto b = api::parse_rate_limit("2.5/s");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->burst, 25);  // Ten seconds' worth.
  EXPECT_EQ(api::parse_rate_limit("off")->per_second, 0);
  for (const char* bad : {"", "100", "100/m", "-1/s", "0/s", "5/s,", "5/s,0", "x/s", "5/s;9"}) {
    EXPECT_FALSE(api::parse_rate_limit(bad).has_value()) << bad;
  }
}

TEST(RateLimitTest, ABucketPerTokenEmptiesAndSaysWhenToComeBack) {
  api::RateLimiter limiter({1, 3});
  const Digest alice = sha256(as_bytes(std::string("alice")));
  const Digest bob = sha256(as_bytes(std::string("bob")));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limiter.take(alice), 0) << i;
  const int64_t wait = limiter.take(alice);
  EXPECT_GE(wait, 1);
  EXPECT_LE(wait, 1);
  EXPECT_EQ(limiter.take(bob), 0);  // Her bucket is hers alone.
  api::RateLimiter off({0, 0});
  for (int i = 0; i < 10000; ++i) ASSERT_EQ(off.take(alice), 0);
}

// The checksum field of a header block, as tar readers verify it.
bool checksum_ok(const Bytes& block) {
  unsigned sum = 0;
  for (size_t i = 0; i < 512; ++i) {
    sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(block[i]);
  }
  char field[8];
  std::memcpy(field, block.data() + 148, 6);
  field[6] = 0;
  return std::strtoul(field, nullptr, 8) == sum;
}

TEST(TarTest, ShortNamesAreOneUstarBlock) {
  service::TarMember m;
  m.path = "docs/a.txt";
  m.size = 5;
  m.mode = 0755;
  const Bytes h = service::tar_header(m);
  ASSERT_EQ(h.size(), 512u);
  EXPECT_TRUE(checksum_ok(h));
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(h.data())), "docs/a.txt");
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(h.data()) + 257, 5), "ustar");
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(h.data()) + 100, 7), "0000755");
  EXPECT_EQ(service::tar_padding(5), 507u);
  EXPECT_EQ(service::tar_padding(512), 0u);

  // The permission bits as they are (a private file stays private); never setuid and the like.
  m.mode = 0600;
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(service::tar_header(m).data()) + 100, 7),
            "0000600");
  m.mode = 04755;
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(service::tar_header(m).data()) + 100, 7),
            "0000755");
  m.kind = protocol::NodeKind::kFolder;
  m.mode = 0700;
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(service::tar_header(m).data()) + 100, 7),
            "0000700");
  EXPECT_EQ(service::tar_padding(512), 0u);
}

TEST(TarTest, LongPathsSplitIntoPrefixOrGoToAPaxHeader) {
  service::TarMember split;
  split.path = std::string(120, 'a') + "/" + std::string(90, 'b');
  EXPECT_EQ(service::tar_header(split).size(), 512u);  // prefix + name

  service::TarMember pax;
  pax.path = std::string(300, 'c');
  pax.kind = protocol::NodeKind::kSymlink;
  pax.link_target = std::string(150, 'd');
  const Bytes h = service::tar_header(pax);
  ASSERT_EQ(h.size(), 512u * 3);  // pax header, its records (one block), the member
  EXPECT_EQ(static_cast<char>(h[156]), 'x');
  EXPECT_TRUE(checksum_ok(h));
  const std::string records(reinterpret_cast<const char*>(h.data()) + 512, 512);
  // Each record's length counts its own digits: "310 path=ccc...\n" is 310 bytes long.
  EXPECT_EQ(records.rfind("310 path=" + std::string(300, 'c') + "\n", 0), 0u);
  EXPECT_NE(records.find("164 linkpath=" + std::string(150, 'd') + "\n"), std::string::npos);
  const Bytes member(h.begin() + 1024, h.end());
  EXPECT_TRUE(checksum_ok(member));
  EXPECT_EQ(static_cast<char>(member[156]), '2');

  service::TarMember huge;
  huge.path = "big.bin";
  huge.size = uint64_t{20} << 30;  // Over ustar's 8 GiB.
  const Bytes hh = service::tar_header(huge);
  ASSERT_EQ(hh.size(), 1536u);
  const std::string r(reinterpret_cast<const char*>(hh.data()) + 512, 32);
  EXPECT_EQ(r.rfind("20 size=21474836480\n", 0), 0u);
}

}  // namespace
}  // namespace cairn
