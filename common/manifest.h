#pragma once

// The manifest: the ordered chunk list of one file version, addressed by the SHA-256 of its
// encoding so that identical files share one. Format: see "Manifest encoding v1" in manifest.cpp
// and docs/formats.md.

#include <cstdint>
#include <vector>

#include "common/bytes.h"
#include "common/error.h"
#include "common/hash.h"

namespace cairn {

struct ChunkRef {
  Digest hash;
  uint32_t length = 0;
  bool operator==(const ChunkRef&) const = default;
};

class Manifest {
 public:
  static constexpr uint8_t kVersion = 1;

  Manifest() = default;
  explicit Manifest(std::vector<ChunkRef> chunks) : chunks_(std::move(chunks)) {}

  const std::vector<ChunkRef>& chunks() const { return chunks_; }
  void add(const ChunkRef& chunk) { chunks_.push_back(chunk); }
  uint64_t total_size() const;

  // The canonical encoding; decode(encode()) == *this for every manifest of valid chunk lengths.
  Bytes encode() const;
  // SHA-256 of encode(): the manifest's address.
  Digest address() const;

  // Parses an encoding. kCorrupt for anything but a well-formed v1 manifest: bad magic, unknown
  // version, truncation, non-minimal or overlong integers, zero or oversized chunk lengths,
  // trailing bytes. Never reads out of bounds, never allocates more than the input justifies.
  static Result<Manifest> decode(ByteView encoded);

  bool operator==(const Manifest&) const = default;

 private:
  std::vector<ChunkRef> chunks_;
};

}  // namespace cairn
