#include "common/pack.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <zstd.h>

#include <csignal>
#include <random>
#include <string>

#include "common/file_io.h"

namespace cairn {
namespace {

Bytes random_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Bytes out(n);
  for (auto& b : out) b = static_cast<std::byte>(rng());
  return out;
}

Bytes text_bytes(size_t n, uint64_t seed) {
  static const std::string kWords[] = {"cairn ", "chunk ", "pack ", "stone ", "trail ", "\n"};
  std::mt19937_64 rng(seed);
  std::string s;
  while (s.size() < n) s += kWords[rng() % 6];
  s.resize(n);
  const ByteView v = as_bytes(s);
  return Bytes(v.begin(), v.end());
}

struct Sample {
  std::vector<Bytes> chunks;
  PackBuilder::Built pack;
};

// A pack of compressible and incompressible chunks of assorted sizes.
Sample sample_pack() {
  Sample s;
  s.chunks = {text_bytes(100000, 1), random_bytes(5000, 2), text_bytes(10, 3), random_bytes(1, 4),
              text_bytes(300000, 5)};
  PackBuilder builder;
  for (const auto& c : s.chunks) builder.add(sha256(c), c);
  EXPECT_EQ(builder.chunk_count(), s.chunks.size());
  const uint64_t estimate = builder.size();
  s.pack = builder.finish().value();
  EXPECT_LE(s.pack.bytes.size(), estimate);
  EXPECT_TRUE(builder.empty());
  return s;
}

Result<std::vector<PackEntry>> verify_in_pieces(ByteView pack, size_t piece,
                                                PackLimits limits = {}) {
  PackVerifier v(limits);
  for (size_t at = 0; at < pack.size(); at += piece) {
    CAIRN_RETURN_IF_ERROR(v.update(pack.subspan(at, std::min(piece, pack.size() - at))));
  }
  return v.finish();
}

// `entries` without the XXH3 of stored bytes that only a verifier records, to compare with a
// builder's.
std::vector<PackEntry> as_built(std::vector<PackEntry> entries) {
  for (auto& e : entries) e.stored_xxh3 = 0;
  return entries;
}

TEST(PackTest, CompressesWhenItPaysAndOnlyThen) {
  const auto s = sample_pack();
  ASSERT_EQ(s.pack.entries.size(), 5u);
  EXPECT_EQ(s.pack.entries[0].codec, Codec::kZstd);
  EXPECT_LT(s.pack.entries[0].stored_length, 100000u / 4);
  EXPECT_EQ(s.pack.entries[1].codec, Codec::kRaw);  // Random bytes do not compress.
  EXPECT_EQ(s.pack.entries[1].stored_length, 5000u);
  EXPECT_EQ(s.pack.entries[2].codec, Codec::kRaw);  // Too small to gain anything.
  EXPECT_EQ(s.pack.entries[3].codec, Codec::kRaw);
  EXPECT_EQ(s.pack.raw_bytes, 100000u + 5000u + 10u + 1u + 300000u);
  EXPECT_LT(s.pack.bytes.size(), 5000u + 300000u / 4 + 100000u / 4);
  EXPECT_EQ(s.pack.digest, sha256(s.pack.bytes));
}

TEST(PackTest, EveryChunkDecodesFromItsLocation) {
  const auto s = sample_pack();
  for (size_t i = 0; i < s.chunks.size(); ++i) {
    const PackEntry& e = s.pack.entries[i];
    EXPECT_EQ(e.hash, sha256(s.chunks[i]));
    EXPECT_EQ(e.length, s.chunks[i].size());
    Bytes out;
    auto r = decode_chunk(e.codec, ByteView(s.pack.bytes).subspan(e.offset, e.stored_length),
                          e.length, out);
    ASSERT_TRUE(r.has_value()) << r.error().message();
    EXPECT_EQ(out, s.chunks[i]);
  }
}

TEST(PackTest, HeaderDecodesToTheBuilderEntries) {
  const auto s = sample_pack();
  auto entries = decode_pack_header(s.pack.bytes, {});
  ASSERT_TRUE(entries.has_value()) << entries.error().message();
  EXPECT_EQ(*entries, s.pack.entries);
  // The header alone is enough.
  auto header_only = decode_pack_header(
      ByteView(s.pack.bytes).first(static_cast<size_t>(s.pack.entries[0].offset)), {});
  ASSERT_TRUE(header_only.has_value());
  EXPECT_EQ(*header_only, s.pack.entries);
}

TEST(PackTest, VerifierAcceptsAGoodPackInAnyPieceSize) {
  const auto s = sample_pack();
  for (size_t piece : {size_t{1}, size_t{7}, size_t{4096}, size_t{65536}, s.pack.bytes.size()}) {
    auto entries = verify_in_pieces(s.pack.bytes, piece);
    ASSERT_TRUE(entries.has_value()) << "piece " << piece << ": " << entries.error().message();
    // Each entry also carries the XXH3 of its stored bytes, which later reads check.
    for (auto& e : *entries) {
      EXPECT_EQ(e.stored_xxh3, xxh3_64(ByteView(s.pack.bytes).subspan(e.offset, e.stored_length)));
    }
    EXPECT_EQ(as_built(*entries), s.pack.entries);
  }
}

TEST(PackTest, VerifierNamesTheChunkWithAFlippedByte) {
  const auto s = sample_pack();
  // One byte inside each chunk's stored bytes in turn: raw and compressed alike are caught.
  for (size_t i = 0; i < s.pack.entries.size(); ++i) {
    const PackEntry& e = s.pack.entries[i];
    Bytes damaged = s.pack.bytes;
    damaged[e.offset + e.stored_length / 2] ^= std::byte{0x01};
    auto r = verify_in_pieces(damaged, 4096);
    ASSERT_FALSE(r.has_value()) << "chunk " << i;
    EXPECT_EQ(r.error().code(), ErrorCode::kCorrupt);
    EXPECT_NE(r.error().message().find(e.hash.hex().substr(0, 12)), std::string::npos)
        << r.error().message();
  }
}

TEST(PackTest, VerifierRefusesTruncatedAndExtendedPacks) {
  const auto s = sample_pack();
  for (size_t cut : {size_t{3}, size_t{20}, s.pack.bytes.size() - 1}) {
    auto r = verify_in_pieces(ByteView(s.pack.bytes).first(cut), 1000);
    ASSERT_FALSE(r.has_value()) << cut;
    EXPECT_EQ(r.error().code(), ErrorCode::kCorrupt);
  }
  Bytes longer = s.pack.bytes;
  longer.push_back(std::byte{0});
  auto r = verify_in_pieces(longer, 1000);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("after its last chunk"), std::string::npos);
}

TEST(PackTest, VerifierEnforcesLimitsFromTheHeader) {
  const auto s = sample_pack();
  PackLimits small;
  small.max_chunk_size = 200000;  // The 300,000-byte chunk is over it.
  auto r = verify_in_pieces(s.pack.bytes, 65536, small);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("outside 1..200000"), std::string::npos);

  PackLimits few;
  few.max_entries = 4;
  r = verify_in_pieces(s.pack.bytes, 65536, few);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("more than the limit"), std::string::npos);

  PackLimits tiny;
  tiny.max_pack_size = 1000;
  r = verify_in_pieces(s.pack.bytes, 65536, tiny);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("larger than the limit"), std::string::npos);
}

TEST(PackTest, MalformedHeadersAreCorrupt) {
  const Bytes good = sample_pack().pack.bytes;
  std::vector<Bytes> cases(4, good);
  cases[0][0] = std::byte{'X'};                 // Bad magic.
  cases[1][4] = std::byte{9};                   // Unknown version.
  cases[2].resize(22);                          // Count...
  cases[2][21] = std::byte{0};                  // ...of zero chunks.
  cases[3][22 + Digest::kSize] = std::byte{7};  // Unknown codec.
  for (const Bytes& b : cases) {
    auto r = verify_in_pieces(b, 3);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), ErrorCode::kCorrupt);
    EXPECT_FALSE(decode_pack_header(b, {}).has_value());
  }
}

TEST(PackTest, TwoPacksOfTheSameChunksHaveDifferentNames) {
  const Bytes a = text_bytes(1000, 9);
  PackBuilder builder;
  builder.add(sha256(a), a);
  const auto first = builder.finish().value();
  builder.add(sha256(a), a);
  const auto second = builder.finish().value();
  EXPECT_NE(first.digest, second.digest);
  EXPECT_EQ(first.entries, second.entries);
}

TEST(PackTest, DuplicateChunksAreStoredOnce) {
  const Bytes a = text_bytes(1000, 9);
  PackBuilder builder;
  builder.add(sha256(a), a);
  builder.add(sha256(a), a);
  EXPECT_EQ(builder.finish().value().entries.size(), 1u);
}

TEST(PackTest, DecodeChunkRefusesWrongLengthsAndGarbage) {
  Compressor c;
  const Bytes raw = text_bytes(50000, 11);
  const auto compressed = c.compress(raw);
  ASSERT_TRUE(compressed.has_value());
  const Bytes z(compressed->begin(), compressed->end());
  Bytes out;
  EXPECT_TRUE(decode_chunk(Codec::kZstd, z, 50000, out).has_value());
  EXPECT_EQ(out, raw);
  EXPECT_FALSE(decode_chunk(Codec::kZstd, z, 49999, out).has_value());
  Bytes extended = z;
  extended.push_back(std::byte{0});
  EXPECT_FALSE(decode_chunk(Codec::kZstd, extended, 50000, out).has_value());
  EXPECT_FALSE(decode_chunk(Codec::kZstd, ByteView(z).first(z.size() - 1), 50000, out).has_value());
  EXPECT_FALSE(decode_chunk(Codec::kRaw, raw, 49999, out).has_value());
  EXPECT_EQ(codec_from_name(codec_name(Codec::kZstd)), Codec::kZstd);
  EXPECT_EQ(codec_from_name("lz4"), std::nullopt);
}

TEST(PackTest, APackSpilledToAFileIsTheSamePack) {
  // Enough data to go to the file several times (a megabyte at a time), in chunks of every kind.
  std::vector<Bytes> chunks;
  for (uint64_t i = 0; i < 12; ++i) {
    chunks.push_back(i % 3 == 0 ? random_bytes(400000 + i, 30 + i) : text_bytes(300000, 30 + i));
  }
  PackBuilder in_memory;
  PackBuilder spilled;
  auto file = open_unnamed_temp("/tmp");
  ASSERT_TRUE(file) << file.error().message();
  spilled.spill_to(std::move(*file));
  for (const auto& c : chunks) {
    in_memory.add(sha256(c), c);
    spilled.add(sha256(c), c);
  }
  EXPECT_EQ(spilled.size(), in_memory.size());
  const auto expected = in_memory.finish().value();
  auto pack = spilled.finish();
  ASSERT_TRUE(pack) << pack.error().message();
  EXPECT_GT(pack->file_bytes, 1u << 20);  // More than one step went to the file.
  EXPECT_LT(pack->bytes.size(), 4096u);   // Only the header stays in memory.
  EXPECT_EQ(pack->size(), expected.size());
  EXPECT_EQ(pack->entries, expected.entries);
  EXPECT_EQ(pack->raw_bytes, expected.raw_bytes);
  Bytes whole = pack->bytes;
  whole.resize(pack->size());
  auto got = pread_full(pack->file.get(), whole.data() + pack->bytes.size(), pack->file_bytes, 0);
  ASSERT_TRUE(got);
  ASSERT_EQ(*got, pack->file_bytes);
  EXPECT_EQ(pack->digest, sha256(whole));
  auto entries = verify_in_pieces(whole, 65536);
  ASSERT_TRUE(entries) << entries.error().message();
  EXPECT_EQ(as_built(*entries), pack->entries);
  Bytes out;
  ASSERT_TRUE(read_packed_chunk(whole, pack->entries[5], out));
  EXPECT_EQ(out, chunks[5]);
  // After finish the builder is an ordinary one again, in memory.
  EXPECT_TRUE(spilled.empty());
  spilled.add(sha256(chunks[0]), chunks[0]);
  const auto next = spilled.finish().value();
  EXPECT_FALSE(next.file);
  EXPECT_EQ(next.file_bytes, 0u);
  EXPECT_EQ(next.digest, sha256(next.bytes));
}

TEST(PackTest, APackWhoseFileFillsUpGoesOnInMemory) {
  // The file takes 1.5 MiB and then refuses more (a file size limit: EFBIG, as a full disk would
  // give ENOSPC). The first two chunks went to it and are read back; the pack goes on in memory
  // and is whole.
  const auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  rlimit old_limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  rlimit small = old_limit;
  small.rlim_cur = 3 << 19;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  auto file = open_unnamed_temp("/tmp");
  ASSERT_TRUE(file) << file.error().message();
  PackBuilder spilled;
  PackBuilder in_memory;
  spilled.spill_to(std::move(*file));
  std::vector<Bytes> chunks;
  for (uint64_t i = 0; i < 5; ++i) chunks.push_back(random_bytes(600000, 50 + i));
  for (const auto& c : chunks) {
    spilled.add(sha256(c), c);
    in_memory.add(sha256(c), c);
  }
  auto pack = spilled.finish();
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  ::signal(SIGXFSZ, old_handler);
  ASSERT_TRUE(pack) << pack.error().message();
  EXPECT_FALSE(pack->file);
  EXPECT_EQ(pack->file_bytes, 0u);
  const auto expected = in_memory.finish().value();
  EXPECT_EQ(pack->size(), expected.size());
  EXPECT_EQ(pack->entries, expected.entries);
  EXPECT_EQ(pack->digest, sha256(pack->bytes));
  auto entries = verify_in_pieces(pack->bytes, 65536);
  ASSERT_TRUE(entries) << entries.error().message();
  Bytes out;
  for (size_t i = 0; i < chunks.size(); ++i) {
    ASSERT_TRUE(read_packed_chunk(pack->bytes, pack->entries[i], out));
    EXPECT_EQ(out, chunks[i]);
  }
}

TEST(PackTest, CompressionIsKeptOnlyWhenItSavesAThirtySecond) {
  // Random bytes behind a run of zeros: the run is what zstd saves. 2% saved is not worth a
  // decode on every read; 6% is. The second call, after a larger one, reuses the buffer.
  const auto with_zeros = [](size_t size, size_t zeros) {
    Bytes b = random_bytes(size, 21);
    std::fill(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(zeros), std::byte{0});
    return b;
  };
  Compressor c;
  EXPECT_FALSE(c.compress(with_zeros(1 << 20, (1 << 20) / 50)).has_value());
  const Bytes worth = with_zeros(1 << 19, (1 << 19) * 6 / 100);
  const auto z = c.compress(worth);
  ASSERT_TRUE(z.has_value());
  EXPECT_LE(z->size(), worth.size() - worth.size() / 32);
  Bytes out;
  ASSERT_TRUE(decode_chunk(Codec::kZstd, *z, static_cast<uint32_t>(worth.size()), out));
  EXPECT_EQ(out, worth);
}

TEST(PackTest, LargeChunksEncodedElsewhereVerifyStreamingAndCompressorKeepsNothing) {
  // A large chunk compressed by the caller (as an uploader does) beside a small one added raw.
  const Bytes large = text_bytes(4 * 1024 * 1024, 12);
  const Bytes random = random_bytes(1024 * 1024, 13);
  Compressor compressor;
  EXPECT_FALSE(compressor.compress(random).has_value());  // Incompressible: not worth it.
  const auto z = compressor.compress(large);
  ASSERT_TRUE(z.has_value());
  EXPECT_LT(z->size(), large.size() / 2);
  PackBuilder builder;
  builder.add_encoded(sha256(large), static_cast<uint32_t>(large.size()), Codec::kZstd, *z);
  builder.add_encoded(sha256(large), static_cast<uint32_t>(large.size()), Codec::kZstd, *z);
  builder.add(sha256(random), random);
  const auto pack = builder.finish().value();
  ASSERT_EQ(pack.entries.size(), 2u);  // The repeated chunk is stored once.
  EXPECT_EQ(pack.raw_bytes, large.size() + random.size());
  for (size_t piece : {size_t{1000}, size_t{65536}, pack.bytes.size()}) {
    auto entries = verify_in_pieces(pack.bytes, piece);
    ASSERT_TRUE(entries.has_value()) << entries.error().message();
    EXPECT_EQ(as_built(*entries), pack.entries);
  }
  Bytes out;
  ASSERT_TRUE(read_packed_chunk(pack.bytes, pack.entries[0], out).has_value());
  EXPECT_EQ(out, large);
  // A flipped byte in the middle of the compressed large chunk is named.
  Bytes damaged = pack.bytes;
  damaged[pack.entries[0].offset + pack.entries[0].stored_length / 2] ^= std::byte{0x10};
  auto refused = verify_in_pieces(damaged, 65536);
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message().find(pack.entries[0].hash.hex().substr(0, 12)),
            std::string::npos)
      << refused.error().message();
}

// Found by tests/fuzz/fuzz_pack (corpus/pack/crash-zstd-no-content-size): a zstd frame that does
// not declare its content size decodes fine as a stream, so the verifier accepted it, while every
// read (decode_chunk) refuses it. The daemon stored such packs and could never serve them.
TEST(PackTest, AFrameThatDoesNotDeclareItsLengthIsRefusedWhenVerified) {
  const Bytes chunk = text_bytes(20000, 21);
  std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> cctx(ZSTD_createCCtx(), ZSTD_freeCCtx);
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_contentSizeFlag, 0);
  Bytes frame(ZSTD_compressBound(chunk.size()));
  const size_t n =
      ZSTD_compress2(cctx.get(), frame.data(), frame.size(), chunk.data(), chunk.size());
  ASSERT_FALSE(ZSTD_isError(n));
  frame.resize(n);
  Bytes out;
  EXPECT_FALSE(decode_chunk(Codec::kZstd, frame, static_cast<uint32_t>(chunk.size()), out));
  PackBuilder builder;
  builder.add_encoded(sha256(chunk), static_cast<uint32_t>(chunk.size()), Codec::kZstd, frame);
  const auto pack = builder.finish().value();
  for (size_t piece : {size_t{1}, size_t{7}, pack.bytes.size()}) {
    auto refused = verify_in_pieces(pack.bytes, piece);
    ASSERT_FALSE(refused.has_value()) << "piece " << piece;
    EXPECT_EQ(refused.error().code(), ErrorCode::kCorrupt);
    EXPECT_NE(refused.error().message().find("does not declare its length"), std::string::npos)
        << refused.error().message();
  }
}

}  // namespace
}  // namespace cairn
