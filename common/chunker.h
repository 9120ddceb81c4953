#pragma once

// FastCDC content-defined chunking (Xia et al., USENIX ATC 2016): a gear rolling hash with
// normalised chunking, so that an insertion moves only the boundaries near it.
//
// The gear table and the mask layout are part of Cairn's storage format: every client must cut a
// file at the same places for dedup to work, so the server owns ChunkerParams and hands them out.

#include <cstdint>
#include <functional>
#include <optional>

#include "common/bytes.h"
#include "common/error.h"

namespace cairn {

struct ChunkerParams {
  uint32_t min_size = 256 * 1024;
  uint32_t avg_size = 1024 * 1024;
  uint32_t max_size = 4 * 1024 * 1024;

  // The upper bound for max_size: chunk buffers and request bodies are sized from it.
  static constexpr uint32_t kMaxSupportedSize = 64 * 1024 * 1024;

  // kInvalidArgument unless 64 <= min < avg < max <= kMaxSupportedSize and avg is a power of two.
  Result<void> validate() const;
  bool operator==(const ChunkerParams&) const = default;
};

// Returns the length of the first chunk of `data`. `data` holds the rest of the stream, or at least
// max_size bytes of it; the result is in [1, min(data.size(), max_size)] for non-empty data.
// Precondition: params.validate() succeeded.
size_t find_chunk_boundary(const ChunkerParams& params, ByteView data);

// Cuts a stream into chunks with bounded memory (a buffer of at most 2 * max_size).
// Not thread-safe; one instance per stream.
class StreamChunker {
 public:
  // Fills `buf` with the next bytes of the stream; returns how many (0 only at the end), or an
  // error.
  using ReadFn = std::function<Result<size_t>(std::span<std::byte> buf)>;

  struct Chunk {
    uint64_t offset = 0;
    ByteView data;  // Valid until the next call to next().
  };

  // `size_hint`: the stream's expected length, if known; the buffer starts that small. The
  // chunks are the same whatever the hint.
  StreamChunker(const ChunkerParams& params, ReadFn read,
                std::optional<uint64_t> size_hint = std::nullopt);

  // The next chunk, nullopt at the end of the stream, or the reader's error.
  Result<std::optional<Chunk>> next();

 private:
  Result<void> refill();

  ChunkerParams params_;
  ReadFn read_;
  Bytes buffer_;
  size_t begin_ = 0;
  size_t end_ = 0;
  uint64_t offset_ = 0;
  bool eof_ = false;
};

}  // namespace cairn
