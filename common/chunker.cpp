#include "common/chunker.h"

#include <array>
#include <bit>
#include <cstring>
#include <string>

namespace cairn {
namespace {

// The gear table: 256 pseudo-random 64-bit values from SplitMix64 with a fixed seed. Generated at
// compile time so the values cannot drift; changing the seed changes every chunk boundary.
constexpr std::array<uint64_t, 256> make_gear_table() {
  std::array<uint64_t, 256> table{};
  uint64_t state = 0x636169726e2d6364ULL;  // "cair" "n-cd"
  for (auto& entry : table) {
    state += 0x9e3779b97f4a7c15ULL;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    entry = z ^ (z >> 31);
  }
  return table;
}

constexpr std::array<uint64_t, 256> kGear = make_gear_table();

// A mask of the `bits` most significant bits. The gear hash shifts left one bit per byte, so its
// high bits depend on the most recent 64 bytes and its low bits on only the last few: testing the
// high bits gives every candidate boundary a full 64-byte window.
constexpr uint64_t high_bits_mask(unsigned bits) { return ~uint64_t{0} << (64 - bits); }

}  // namespace

Result<void> ChunkerParams::validate() const {
  if (min_size < 64 || min_size >= avg_size || avg_size >= max_size ||
      max_size > kMaxSupportedSize || !std::has_single_bit(avg_size)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "chunker parameters must satisfy 64 <= min < avg < max <= 64 MiB with avg a "
                      "power of two (min=" +
                          std::to_string(min_size) + " avg=" + std::to_string(avg_size) +
                          " max=" + std::to_string(max_size) + ")");
  }
  return {};
}

size_t find_chunk_boundary(const ChunkerParams& params, ByteView data) {
  size_t n = data.size();
  if (n <= params.min_size) return n;
  if (n > params.max_size) n = params.max_size;
  const size_t normal = n < params.avg_size ? n : params.avg_size;

  // Normalised chunking at level 2: before the average size a boundary needs two more zero bits
  // (less likely), after it two fewer (more likely), which pulls sizes toward the average.
  const auto avg_bits = static_cast<unsigned>(std::countr_zero(params.avg_size));
  const uint64_t mask_small = high_bits_mask(avg_bits + 2);
  const uint64_t mask_large = high_bits_mask(avg_bits - 2);

  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  uint64_t hash = 0;
  size_t i = params.min_size;
  // Two bytes per step with the same result as one: h2 = (h << 2) + (G[b0] << 1) + G[b1]
  // depends on h through one shift and one add, so the loop-carried chain is half as long as
  // stepping byte by byte. The intermediate h1 is still tested, so boundaries are unchanged.
  for (; i + 1 < normal; i += 2) {
    const uint64_t h1 = (hash << 1) + kGear[p[i]];
    hash = (hash << 2) + ((kGear[p[i]] << 1) + kGear[p[i + 1]]);
    if ((h1 & mask_small) == 0) return i + 1;
    if ((hash & mask_small) == 0) return i + 2;
  }
  for (; i < normal; ++i) {
    hash = (hash << 1) + kGear[p[i]];
    if ((hash & mask_small) == 0) return i + 1;
  }
  for (; i + 1 < n; i += 2) {
    const uint64_t h1 = (hash << 1) + kGear[p[i]];
    hash = (hash << 2) + ((kGear[p[i]] << 1) + kGear[p[i + 1]]);
    if ((h1 & mask_large) == 0) return i + 1;
    if ((hash & mask_large) == 0) return i + 2;
  }
  for (; i < n; ++i) {
    hash = (hash << 1) + kGear[p[i]];
    if ((hash & mask_large) == 0) return i + 1;
  }
  return n;
}

StreamChunker::StreamChunker(const ChunkerParams& params, ReadFn read,
                             std::optional<uint64_t> size_hint)
    : params_(params), read_(std::move(read)) {
  CAIRN_CHECK(params_.validate().has_value());
  // A small file gets a buffer its size (plus one byte, so the read that finds its end needs no
  // room): allocating and clearing 2 x max_size for each of 50,000 small files would cost more
  // than hashing them. The buffer grows if the stream turns out longer.
  const size_t full = 2 * size_t{params_.max_size};
  buffer_.resize(size_hint && *size_hint < full ? static_cast<size_t>(*size_hint) + 1 : full);
}

Result<void> StreamChunker::refill() {
  // Keep at least max_size bytes ahead of the cursor (or everything up to the end), so that the
  // boundary search sees the same bytes it would see with the whole stream in memory.
  if (eof_ || end_ - begin_ >= params_.max_size) return {};
  if (begin_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  while (true) {
    if (end_ == buffer_.size()) {
      const size_t full = 2 * size_t{params_.max_size};
      if (buffer_.size() >= full) break;
      buffer_.resize(full);  // Longer than the hint said.
    }
    auto got = read_(std::span<std::byte>(buffer_.data() + end_, buffer_.size() - end_));
    if (!got) return std::move(got).error();
    if (*got == 0) {
      eof_ = true;
      break;
    }
    end_ += *got;
  }
  return {};
}

Result<std::optional<StreamChunker::Chunk>> StreamChunker::next() {
  CAIRN_RETURN_IF_ERROR(refill());
  if (begin_ == end_) return std::optional<Chunk>();
  const ByteView rest(buffer_.data() + begin_, end_ - begin_);
  const size_t len = find_chunk_boundary(params_, rest);
  Chunk chunk{offset_, rest.first(len)};
  begin_ += len;
  offset_ += len;
  return std::optional<Chunk>(chunk);
}

}  // namespace cairn
