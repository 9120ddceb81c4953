#!/usr/bin/env bash
# Cairn's throughput and memory figures on this machine (issue 2's targets):
#   - initial push of a 1 GiB incompressible file vs `openssl dgst -sha256` of the same file
#   - pull (clone) of it, and cairnd's peak RSS while it receives the file
#   - push and clone of a tree of 20,000 small files (files/s)
#   - `cairn status` on that tree with nothing changed
# plus Google Benchmark microbenchmarks of the chunker and hashes.
#
#   scripts/bench.sh                 # data under $CAIRN_BENCH_DIR (default /tmp/cairn-bench)
#   CAIRN_BENCH_FILES=5000 scripts/bench.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
bash "$ROOT/scripts/install-deps.sh"
cmake -S "$ROOT" -B "$ROOT/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCAIRN_SANITIZE= >/dev/null
ninja -C "$ROOT/build" cairn cairnd cairn_micro_bench >/dev/null
echo "== microbenchmarks (one core)"
"$ROOT/build/bin/cairn_micro_bench" --benchmark_min_time=0.3 2>/dev/null |
  grep -E '^(BM_|Benchmark|-)' || true
echo "== end to end"
exec python3 "$ROOT/tests/bench/bench.py" --bin "$ROOT/build/bin" "$@"
