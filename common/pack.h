#pragma once

// Packs: many chunks in one stored object (small ones, and large ones that compress), each
// compressed with zstd when that pays.
//
// One file (or one S3 object) per 4 KiB chunk would make a tree of small files slow to store and
// costly to list, and every chunk PUT would pay a round trip and an fsync. A client bundles small
// chunks into a pack of about 16 MiB and uploads it with one request. The header comes first, so
// that a receiver can verify every chunk while the bytes stream in, before it records any.
//
// Pack encoding v1 (docs/formats.md):
//   magic        4 bytes   "CRNP"
//   version      1 byte    0x01
//   nonce        16 bytes  random: no two packs share a name, so that deleting one can never
//                          remove another upload's bytes
//   count        uvarint   number of chunks, 1 .. kMaxPackEntries
//   count times:
//     hash       32 bytes  SHA-256 of the chunk's uncompressed bytes (its address)
//     codec      1 byte    0 raw, 1 zstd (one frame, content size in its header)
//     length     uvarint   uncompressed length, 1 .. 64 MiB
//     stored     uvarint   length in the pack; equals length for raw
//   then the stored bytes of each chunk in header order, nothing after the last.
// A pack's name is the SHA-256 of its whole encoding.

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "common/bytes.h"
#include "common/error.h"
#include "common/file_io.h"
#include "common/hash.h"

namespace cairn {

// How a chunk's bytes are kept.
enum class Codec : uint8_t { kRaw = 0, kZstd = 1 };

std::string_view codec_name(Codec codec);
std::optional<Codec> codec_from_name(std::string_view name);

// Compresses chunks with zstd, keeping the result only when it saves at least 1/32 of the bytes.
// Incompressible data costs little: zstd gives up on it at over 1.5 GB/s. One thread at a time.
class Compressor {
 public:
  static constexpr int kDefaultLevel = 1;

  explicit Compressor(int level = kDefaultLevel);
  ~Compressor();
  Compressor(const Compressor&) = delete;
  Compressor& operator=(const Compressor&) = delete;

  // The compressed bytes, valid until the next call, or nullopt when compression does not pay.
  std::optional<ByteView> compress(ByteView raw);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Restores a chunk's bytes from their stored form into `out` (resized to `length`). kCorrupt if
// the stored bytes are not exactly one valid frame of exactly `length` bytes. The caller verifies
// the hash, as every reader does.
Result<void> decode_chunk(Codec codec, ByteView stored, uint32_t length, Bytes& out);

// One chunk of a pack. `offset` counts from the start of the pack.
struct PackEntry {
  Digest hash;
  Codec codec = Codec::kRaw;
  uint32_t length = 0;
  uint32_t stored_length = 0;
  uint64_t offset = 0;
  // XXH3-64 of the stored bytes, taken by the daemon as it verified them (PackVerifier): a later
  // read checks its bytes against it without decoding them. 0: not known (a pack recorded
  // before this was kept, or one the daemon never read), so a read decodes and hashes.
  uint64_t stored_xxh3 = 0;

  bool operator==(const PackEntry&) const = default;
};

// The chunk `entry` places in `pack` (a whole pack's bytes), decoded into `out` and checked
// against its hash. kCorrupt saying what is wrong: outside the pack, not decodable, or not
// hashing to its name.
Result<void> read_packed_chunk(ByteView pack, const PackEntry& entry, Bytes& out);

// Bounds a receiver enforces before trusting anything in a pack.
struct PackLimits {
  static constexpr uint32_t kMaxPackEntries = 65536;

  uint32_t max_chunk_size = 64 * 1024 * 1024;
  uint64_t max_pack_size = 64 * 1024 * 1024;
  uint32_t max_entries = kMaxPackEntries;
};

// Builds a pack in memory. One thread at a time.
class PackBuilder {
 public:
  // The pack is `bytes` followed by the first `file_bytes` bytes of `file` (none unless the
  // builder spilled to a file).
  struct Built {
    Bytes bytes;
    UniqueFd file;
    uint64_t file_bytes = 0;
    Digest digest;  // SHA-256 of the whole pack: its name.
    std::vector<PackEntry> entries;
    uint64_t raw_bytes = 0;  // Sum of the chunks' uncompressed lengths.

    uint64_t size() const { return bytes.size() + file_bytes; }
  };

  explicit PackBuilder(int level = Compressor::kDefaultLevel);

  // From now on the chunks' bytes go to `file` (new and empty) as they are added, a megabyte at
  // a time, rather than staying in memory; finish() hands the file on in Built. If the file
  // cannot take them (a full disk), the pack goes on in memory. Only while the builder is empty.
  void spill_to(UniqueFd file);

  // Adds a chunk whose uncompressed bytes are `raw` (which hash to `hash`); compresses it when
  // that pays. A hash already in the pack is ignored.
  void add(const Digest& hash, ByteView raw);
  // Adds a chunk already encoded: `stored` decodes with `codec` to `length` bytes hashing to
  // `hash` (the caller has made sure of it). A hash already in the pack is ignored.
  void add_encoded(const Digest& hash, uint32_t length, Codec codec, ByteView stored);

  // Reserves room for `bytes` of chunk data, so that filling the pack up to there never copies
  // what it holds (a large reservation costs no memory until it is written). Not for a builder
  // that spills.
  void reserve(size_t bytes) { data_.reserve(bytes); }

  bool empty() const { return entries_.empty(); }
  size_t chunk_count() const { return entries_.size(); }
  // The size of the pack if it were finished now.
  uint64_t size() const;

  // Encodes the pack and starts a new, empty one (in memory). Fails only if writing to or
  // reading back the spill file did.
  Result<Built> finish();

 private:
  // Bytes of chunk data that collect in memory before they go to the spill file.
  static constexpr size_t kSpillStep = 1 << 20;

  // Writes what data_ holds to the spill file. If that fails, the builder takes back what the
  // file holds and goes on in memory; if even that fails, the error sticks for finish().
  void flush_spill();
  // The SHA-256 of `header` followed by the spill file's data: read back from the page cache.
  Result<Digest> spilled_digest(ByteView header);
  uint64_t data_size() const { return spilled_ + data_.size(); }

  Compressor compressor_;
  std::vector<PackEntry> entries_;  // Offsets relative to the start of the chunk data.
  std::unordered_set<Digest> hashes_;
  Bytes data_;  // All the chunk data, or when spilling what is not in the file yet.
  UniqueFd spill_;
  uint64_t spilled_ = 0;  // Bytes of chunk data in spill_.
  std::optional<Error> spill_error_;
  uint64_t raw_bytes_ = 0;
};

// Verifies a pack as its bytes arrive, holding at most the header and a small window: every
// chunk must decode to exactly its length and hash to its address. Feed it every byte, in order.
// The entries it returns carry the XXH3-64 of each chunk's stored bytes.
class PackVerifier {
 public:
  explicit PackVerifier(const PackLimits& limits);
  ~PackVerifier();
  PackVerifier(const PackVerifier&) = delete;
  PackVerifier& operator=(const PackVerifier&) = delete;

  // kCorrupt (naming the chunk) as soon as something is wrong; further calls repeat that error.
  Result<void> update(ByteView bytes);
  // The pack's entries once every byte has arrived and checked out. kCorrupt if the pack is
  // incomplete or has bytes after its last chunk.
  Result<std::vector<PackEntry>> finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Decodes the header at the start of `pack` (which may hold just the header or the whole pack):
// the entries with their offsets. kCorrupt if it is malformed or exceeds `limits`.
Result<std::vector<PackEntry>> decode_pack_header(ByteView pack, const PackLimits& limits);

}  // namespace cairn
