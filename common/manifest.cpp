#include "common/manifest.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <string>

#include "common/chunker.h"
#include "common/varint.h"

namespace cairn {

// Manifest encoding v1
// --------------------
//   magic        4 bytes   "CRNM"
//   version      1 byte    0x01
//   count        uvarint   number of chunks (0 for an empty file)
//   count times:
//     hash       32 bytes  SHA-256 of the chunk's bytes
//     length     uvarint   chunk length in bytes, 1 .. 64 MiB
//
// uvarint is unsigned LEB128 (7 bits a byte, least significant group first, high bit = more),
// in its shortest form. Nothing may follow the last entry. The file's size is the sum of the
// lengths; a chunk's offset is the sum of the lengths before it. Any change to this layout takes a
// new version byte: manifests are content-addressed, so old encodings live forever.

namespace {

constexpr std::array<std::byte, 4> kMagic = {std::byte{'C'}, std::byte{'R'}, std::byte{'N'},
                                             std::byte{'M'}};
constexpr size_t kEntryMinSize = Digest::kSize + 1;

}  // namespace

uint64_t Manifest::total_size() const {
  uint64_t total = 0;
  for (const auto& c : chunks_) total += c.length;
  return total;
}

Bytes Manifest::encode() const {
  Bytes out;
  out.reserve(kMagic.size() + 1 + 10 + chunks_.size() * (Digest::kSize + 4));
  varint::put_raw(out, kMagic);
  out.push_back(static_cast<std::byte>(kVersion));
  varint::put(out, chunks_.size());
  for (const auto& c : chunks_) {
    varint::put_raw(out, c.hash.bytes());
    varint::put(out, c.length);
  }
  return out;
}

Digest Manifest::address() const { return sha256(encode()); }

Result<Manifest> Manifest::decode(ByteView in) {
  if (in.size() < kMagic.size() + 2 || !std::equal(kMagic.begin(), kMagic.end(), in.begin())) {
    return make_error(ErrorCode::kCorrupt, "not a manifest (bad magic)");
  }
  const auto version = static_cast<uint8_t>(in[kMagic.size()]);
  if (version != kVersion) {
    return make_error(ErrorCode::kCorrupt,
                      "unsupported manifest version " + std::to_string(version));
  }
  size_t pos = kMagic.size() + 1;
  CAIRN_ASSIGN_OR_RETURN(const uint64_t count, varint::get_or_corrupt(in, pos, "manifest"));
  // Bound the allocation by what the input can hold before trusting the count.
  if (count > (in.size() - pos) / kEntryMinSize) {
    return make_error(ErrorCode::kCorrupt, "manifest chunk count exceeds its length");
  }
  std::vector<ChunkRef> chunks;
  chunks.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    if (in.size() - pos < Digest::kSize) {
      return make_error(ErrorCode::kCorrupt, "manifest truncated in a chunk hash");
    }
    ChunkRef ref;
    ref.hash = *Digest::from_bytes(in.subspan(pos, Digest::kSize));
    pos += Digest::kSize;
    CAIRN_ASSIGN_OR_RETURN(const uint64_t length, varint::get_or_corrupt(in, pos, "manifest"));
    if (length == 0 || length > ChunkerParams::kMaxSupportedSize) {
      return make_error(ErrorCode::kCorrupt,
                        "manifest chunk length out of range: " + std::to_string(length));
    }
    ref.length = static_cast<uint32_t>(length);
    chunks.push_back(ref);
  }
  if (pos != in.size()) return make_error(ErrorCode::kCorrupt, "trailing bytes after manifest");
  return Manifest(std::move(chunks));
}

}  // namespace cairn
