#include "common/manifest.h"

#include <gtest/gtest.h>

#include <random>

namespace cairn {
namespace {

Manifest sample(size_t n) {
  Manifest m;
  for (size_t i = 0; i < n; ++i) {
    m.add({sha256(as_bytes(std::to_string(i))), static_cast<uint32_t>(1 + i * 977)});
  }
  return m;
}

TEST(ManifestTest, RoundTrip) {
  for (size_t n : {0u, 1u, 2u, 200u, 5000u}) {
    const Manifest m = sample(n);
    auto decoded = Manifest::decode(m.encode());
    ASSERT_TRUE(decoded.has_value()) << decoded.error().message();
    EXPECT_EQ(*decoded, m);
  }
}

TEST(ManifestTest, SizeAndAddress) {
  const Manifest m = sample(3);
  EXPECT_EQ(m.total_size(), 1u + 978u + 1955u);
  EXPECT_EQ(m.address(), sha256(m.encode()));
  EXPECT_NE(sample(3).address(), sample(4).address());
}

TEST(ManifestTest, EncodingIsPinned) {
  // An empty file's manifest: magic, version 1, count 0. Changing it orphans every stored manifest.
  const Bytes empty = Manifest().encode();
  EXPECT_EQ(to_hex(empty), "43524e4d0100");
  Manifest one;
  one.add({sha256(as_bytes("")), 300});
  EXPECT_EQ(to_hex(one.encode()),
            "43524e4d0101e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855ac02");
}

TEST(ManifestTest, RejectsMalformedInput) {
  const Bytes good = sample(2).encode();
  auto expect_corrupt = [](const Bytes& b, const char* why) {
    auto r = Manifest::decode(b);
    ASSERT_FALSE(r.has_value()) << why;
    EXPECT_EQ(r.error().code(), ErrorCode::kCorrupt) << why;
  };
  expect_corrupt(Bytes{}, "empty");
  Bytes bad_magic = good;
  bad_magic[0] = std::byte{'X'};
  expect_corrupt(bad_magic, "magic");
  Bytes bad_version = good;
  bad_version[4] = std::byte{2};
  expect_corrupt(bad_version, "version");
  for (size_t cut = 0; cut < good.size(); ++cut) {
    expect_corrupt(Bytes(good.begin(), good.begin() + static_cast<long>(cut)), "truncated");
  }
  Bytes trailing = good;
  trailing.push_back(std::byte{0});
  expect_corrupt(trailing, "trailing");
  // Count claims more entries than the bytes can hold.
  Bytes huge_count = {std::byte{'C'},  std::byte{'R'},  std::byte{'N'},
                      std::byte{'M'},  std::byte{1},    std::byte{0xFF},
                      std::byte{0xFF}, std::byte{0xFF}, std::byte{0x7F}};
  expect_corrupt(huge_count, "count");
  // Non-minimal varint for count 0: 0x80 0x00.
  expect_corrupt(Bytes{std::byte{'C'}, std::byte{'R'}, std::byte{'N'}, std::byte{'M'}, std::byte{1},
                       std::byte{0x80}, std::byte{0x00}},
                 "non-minimal");
  // Zero-length chunk.
  Manifest zero;
  zero.add({sha256(as_bytes("z")), 0});
  expect_corrupt(zero.encode(), "zero length");
}

TEST(ManifestTest, RandomBytesNeverCrash) {
  std::mt19937_64 rng(5);
  const Bytes good = sample(3).encode();
  for (int i = 0; i < 20000; ++i) {
    Bytes b = good;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) b[rng() % b.size()] = static_cast<std::byte>(rng());
    if (rng() % 3 == 0) b.resize(rng() % b.size());
    auto r = Manifest::decode(b);
    if (r) {
      EXPECT_EQ(Manifest::decode(r->encode())->encode(), r->encode());
    }
  }
}

}  // namespace
}  // namespace cairn
