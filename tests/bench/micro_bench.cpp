// Microbenchmarks of the per-byte hot paths: chunk boundary search, SHA-256, XXH3, and the
// manifest codec. Run by scripts/bench.sh; compare SHA-256 with `openssl dgst -sha256`.

#include <benchmark/benchmark.h>

#include <cstring>
#include <random>

#include "common/chunker.h"
#include "common/hash.h"
#include "common/manifest.h"

namespace {

using namespace cairn;  // NOLINT(google-build-using-namespace): benchmark file.

const Bytes& random_buffer() {
  static const Bytes buffer = [] {
    Bytes b(64 << 20);
    std::mt19937_64 rng(42);
    for (size_t i = 0; i < b.size(); i += 8) {
      const uint64_t v = rng();
      std::memcpy(b.data() + i, &v, 8);
    }
    return b;
  }();
  return buffer;
}

void BM_FastCdcBoundaries(benchmark::State& state) {
  const Bytes& data = random_buffer();
  const ChunkerParams params;
  for (auto _ : state) {
    size_t pos = 0;
    size_t chunks = 0;
    while (pos < data.size()) {
      pos += find_chunk_boundary(params, ByteView(data).subspan(pos));
      ++chunks;
    }
    benchmark::DoNotOptimize(chunks);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * data.size()));
}
BENCHMARK(BM_FastCdcBoundaries)->Unit(benchmark::kMillisecond);

void BM_Sha256(benchmark::State& state) {
  const ByteView data = ByteView(random_buffer()).first(static_cast<size_t>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(sha256(data));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * data.size()));
}
BENCHMARK(BM_Sha256)->Arg(4096)->Arg(1 << 20);

void BM_Xxh3(benchmark::State& state) {
  const ByteView data = ByteView(random_buffer()).first(1 << 20);
  for (auto _ : state) benchmark::DoNotOptimize(xxh3_64(data));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * data.size()));
}
BENCHMARK(BM_Xxh3);

void BM_ChunkAndHash(benchmark::State& state) {
  const Bytes& data = random_buffer();
  const ChunkerParams params;
  for (auto _ : state) {
    size_t pos = 0;
    while (pos < data.size()) {
      const size_t len = find_chunk_boundary(params, ByteView(data).subspan(pos));
      benchmark::DoNotOptimize(sha256(ByteView(data).subspan(pos, len)));
      pos += len;
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * data.size()));
}
BENCHMARK(BM_ChunkAndHash)->Unit(benchmark::kMillisecond);

void BM_ManifestDecode(benchmark::State& state) {
  Manifest m;
  for (int i = 0; i < 1024; ++i) m.add({sha256(as_bytes(std::to_string(i))), 1u << 20});
  const Bytes encoded = m.encode();
  for (auto _ : state) benchmark::DoNotOptimize(Manifest::decode(encoded));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * 1024));
}
BENCHMARK(BM_ManifestDecode);

}  // namespace

BENCHMARK_MAIN();
