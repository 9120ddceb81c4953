// Manifest::decode on arbitrary bytes: only kCorrupt or a manifest, and a manifest that decodes
// is canonical (it encodes back to exactly the input; its address is the input's SHA-256).

#include <algorithm>

#include "common/manifest.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cairn;
  const ByteView in(reinterpret_cast<const std::byte*>(data), size);
  auto manifest = Manifest::decode(in);
  if (!manifest) {
    FUZZ_CHECK(manifest.error().code() == ErrorCode::kCorrupt);
    return 0;
  }
  const Bytes again = manifest->encode();
  FUZZ_CHECK(std::equal(again.begin(), again.end(), in.begin(), in.end()));
  FUZZ_CHECK(manifest->address() == sha256(in));
  uint64_t total = 0;
  for (const auto& chunk : manifest->chunks()) total += chunk.length;
  FUZZ_CHECK(total == manifest->total_size());
  return 0;
}
