// A pack from outside (an upload, or a store's object), read the two ways the daemon reads one:
// decode_pack_header plus read_packed_chunk per entry, and PackVerifier fed in pieces. Either
// says kCorrupt or succeeds; never a crash, an overread or an allocation the input does not
// justify. A pack the verifier accepts has exactly the header's entries, each of which reads back.

#include "common/pack.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cairn;
  if (size < 1) return 0;
  // The first byte sets the verifier's piece size: 1..256 bytes, so pieces end anywhere.
  const size_t piece = static_cast<size_t>(data[0]) + 1;
  const ByteView pack(reinterpret_cast<const std::byte*>(data + 1), size - 1);
  PackLimits limits;
  limits.max_chunk_size = 1 << 20;
  limits.max_pack_size = 4 << 20;
  limits.max_entries = 1024;

  auto header = decode_pack_header(pack, limits);
  if (!header) FUZZ_CHECK(header.error().code() == ErrorCode::kCorrupt);

  PackVerifier verifier(limits);
  bool ok = true;
  for (size_t at = 0; at < pack.size() && ok; at += piece) {
    ok = verifier.update(pack.subspan(at, std::min(piece, pack.size() - at))).has_value();
  }
  auto verified = ok ? verifier.finish() : Result<std::vector<PackEntry>>(verifier.finish());
  if (!verified) {
    FUZZ_CHECK(verified.error().code() == ErrorCode::kCorrupt);
    if (header) {
      // The header is fine but the body is not: reading each entry says so, or succeeds.
      Bytes out;
      for (const auto& entry : *header) {
        auto read = read_packed_chunk(pack, entry, out);
        if (!read) FUZZ_CHECK(read.error().code() == ErrorCode::kCorrupt);
      }
    }
    return 0;
  }
  FUZZ_CHECK(header.has_value());
  FUZZ_CHECK(header->size() == verified->size());
  Bytes out;
  for (size_t i = 0; i < header->size(); ++i) {
    PackEntry entry = (*verified)[i];
    entry.stored_xxh3 = 0;
    FUZZ_CHECK(entry == (*header)[i]);
    FUZZ_CHECK(read_packed_chunk(pack, entry, out).has_value());
    FUZZ_CHECK(out.size() == entry.length);
  }
  return 0;
}
