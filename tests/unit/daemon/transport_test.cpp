// Rate limits and the tar writer of folder links.

#include <gtest/gtest.h>

#include <cstring>

#include "common/hash.h"
#include "daemon/api/rate_limit.h"
#include "daemon/service/tar.h"
#include "daemon/service/zip.h"

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

uint64_t le(const Bytes& b, size_t at, size_t width) {
  uint64_t v = 0;
  for (size_t i = 0; i < width; ++i)
    v |= uint64_t{std::to_integer<uint8_t>(b.at(at + i))} << (8 * i);
  return v;
}

TEST(ZipTest, Crc32IsZipsCrc) {
  EXPECT_EQ(service::crc32_update(0, as_bytes("123456789")), 0xcbf43926u);
  EXPECT_EQ(service::crc32_update(service::crc32_update(0, as_bytes("1234")), as_bytes("56789")),
            0xcbf43926u);
}

TEST(ZipTest, TheLayoutsLengthIsTheArchivesAndEveryRecordIsWhereItSays) {
  std::vector<service::TarMember> members(3);
  members[0].path = "t";
  members[0].kind = protocol::NodeKind::kFolder;
  members[1].path = "t/a.txt";
  members[1].size = 5;
  members[1].mtime_seconds = 1795644301;
  members[2].path = "t/link";
  members[2].kind = protocol::NodeKind::kSymlink;
  members[2].link_target = "a.txt";
  service::ZipLayout zip(members);
  Bytes all = zip.header(0);
  const size_t second = all.size();
  Bytes h = zip.header(1);
  all.insert(all.end(), h.begin(), h.end());
  const Bytes content = {std::byte{'h'}, std::byte{'e'}, std::byte{'l'}, std::byte{'l'},
                         std::byte{'o'}};
  all.insert(all.end(), content.begin(), content.end());
  Bytes d = zip.descriptor(1, service::crc32_update(0, content));
  all.insert(all.end(), d.begin(), d.end());
  h = zip.header(2);
  all.insert(all.end(), h.begin(), h.end());
  const size_t directory = all.size();
  Bytes t = zip.trailer();
  all.insert(all.end(), t.begin(), t.end());
  ASSERT_EQ(all.size(), zip.size());

  EXPECT_EQ(le(all, second, 4), 0x04034b50u);  // The file's local header,
  EXPECT_EQ(le(all, second + 6, 2), 0x0808u);  // UTF-8 names, a descriptor after it.
  EXPECT_EQ(le(all, directory, 4), 0x02014b50u);
  const size_t end = all.size() - 22;
  EXPECT_EQ(le(all, end, 4), 0x06054b50u);
  EXPECT_EQ(le(all, end + 10, 2), 3u);         // Entries.
  EXPECT_EQ(le(all, end + 16, 4), directory);  // Where the directory starts.
  // The file's central record: its CRC, its size, where its header is, a regular 0644 file.
  const size_t file_record = directory + 46 + 2 + 9;  // After "t/" and its time extra.
  EXPECT_EQ(le(all, file_record, 4), 0x02014b50u);
  EXPECT_EQ(le(all, file_record + 16, 4), service::crc32_update(0, content));
  EXPECT_EQ(le(all, file_record + 24, 4), 5u);
  EXPECT_EQ(le(all, file_record + 42, 4), second);
  EXPECT_EQ(le(all, file_record + 38, 4) >> 16, 0100644u);
}

TEST(ZipTest, LargeFilesAndFarOffsetsUseZip64) {
  std::vector<service::TarMember> members(2);
  members[0].path = "big.bin";
  members[0].size = uint64_t{5} << 30;
  members[1].path = "after.txt";
  members[1].size = 3;
  service::ZipLayout zip(members);
  const Bytes first = zip.header(0);
  EXPECT_EQ(le(first, 4, 2), 45u);
  EXPECT_EQ(le(first, 18, 4), 0xffffffffu);  // The sizes are in the ZIP64 extra field.
  const Bytes d = zip.descriptor(0, 7);
  EXPECT_EQ(d.size(), 24u);  // 64-bit sizes.
  EXPECT_EQ(le(d, 8, 8), uint64_t{5} << 30);
  const uint64_t second = first.size() + (uint64_t{5} << 30) + d.size();
  (void)zip.descriptor(1, 9);
  const Bytes t = zip.trailer();
  const uint64_t directory = second + zip.header(1).size() + 3 + 16;
  EXPECT_EQ(directory + t.size(), zip.size());
  // The ZIP64 end record and locator precede the classic end, which points to them.
  const size_t end = t.size() - 22;
  EXPECT_EQ(le(t, end, 4), 0x06054b50u);
  EXPECT_EQ(le(t, end + 16, 4), 0xffffffffu);
  EXPECT_EQ(le(t, end - 20, 4), 0x07064b50u);
  EXPECT_EQ(le(t, end - 76, 4), 0x06064b50u);
  EXPECT_EQ(le(t, end - 76 + 48, 8), directory);
  // The second file's header lies past 4 GiB: its central record says so through ZIP64.
  const std::string name = "after.txt";
  const size_t record = t.size() - 22 - 76 - (46 + name.size() + 9 + 12);
  EXPECT_EQ(le(t, record, 4), 0x02014b50u);
  EXPECT_EQ(le(t, record + 42, 4), 0xffffffffu);
  EXPECT_EQ(le(t, record + 46 + name.size() + 9 + 4, 8), second);
}

}  // namespace
}  // namespace cairn
