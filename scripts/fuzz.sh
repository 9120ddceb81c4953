#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (build-fuzz: AddressSanitizer and
# coverage; CAIRN_FUZZ_SANITIZE=address,undefined adds UBSan at about twice the compile time) and
# runs each for a while, two at a time, starting from its committed corpus
# (tests/fuzz/corpus/TARGET). The sanitized test build replays that corpus under both sanitizers
# on every run (ctest -L fuzz).
#
#   scripts/fuzz.sh                     # every target, 10 minutes each (a long run, by hand)
#   scripts/fuzz.sh 30                  # 30 seconds each (what scripts/test.sh runs in CI)
#   scripts/fuzz.sh 3600 router pack    # chosen targets
#   scripts/fuzz.sh 0                   # build only
#
# New inputs go to build-fuzz/corpus/TARGET; tests/fuzz/corpus stays as committed (copy in what
# is worth keeping, as crash-NAME for an input that broke something). A crash or a broken
# invariant stops that target: its input is saved as build-fuzz/crashes/TARGET-crash-*, and the
# command that reproduces it is printed. Exits 1 if any target failed. Prints, per target, the
# executions run and the corpus size, for the notes.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH=${1:-600}
shift || true
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  TARGETS=(manifest pack remote_path time protocol_json tar ignore router)
fi
BUILD=${CAIRN_FUZZ_BUILD_DIR:-build-fuzz}
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}

if ! command -v clang++-14 >/dev/null; then
  echo "scripts/fuzz.sh needs clang-14 (apt-get install clang-14; scripts/install-deps.sh does)" >&2
  exit 2
fi
SANITIZE=${CAIRN_FUZZ_SANITIZE:-address}
echo "== configure $BUILD (clang-14, libFuzzer, sanitizers: $SANITIZE)"
CC=clang-14 CXX=clang++-14 cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DCAIRN_SANITIZE="$SANITIZE" -DCAIRN_FUZZ=ON \
  -DCAIRN_WERROR=OFF -DCAIRN_BUILD_BENCH=OFF >/dev/null
echo "== build"
ninja -C "$BUILD" cairn_fuzzers | tail -1
if [ "$SECONDS_EACH" = 0 ]; then exit 0; fi  # Build only.

mkdir -p "$BUILD/crashes"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

fuzz_one() {
  local target=$1
  local corpus="$BUILD/corpus/$target"
  mkdir -p "$corpus"
  # -timeout: an input that takes 10 s is a hang (CAIRN_FUZZ_TIMEOUT: more for a run at the lowest
  # priority beside other work, which may leave it no CPU for seconds); -rss_limit_mb: memory the
  # input does not justify.
  if "$BUILD/bin/fuzz_$target" -max_total_time="$SECONDS_EACH" \
      -timeout="${CAIRN_FUZZ_TIMEOUT:-10}" -rss_limit_mb=2048 \
      -artifact_prefix="$BUILD/crashes/$target-" -print_final_stats=1 \
      "$corpus" "tests/fuzz/corpus/$target" >"$BUILD/fuzz-$target.log" 2>&1; then
    local runs
    runs=$(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$BUILD/fuzz-$target.log" |
           grep -o '[0-9]*$' || echo "?")
    printf '%-14s ok: %s executions in %s s, corpus %s inputs\n' "$target" "$runs" \
      "$SECONDS_EACH" "$(find "$corpus" "tests/fuzz/corpus/$target" -type f | wc -l)"
  else
    printf '%-14s FAILED (log: %s)\n' "$target" "$BUILD/fuzz-$target.log"
    grep -E 'invariant broken|ERROR:|SUMMARY:' "$BUILD/fuzz-$target.log" | head -5 | sed 's/^/    /'
    local crash
    crash=$(ls -t "$BUILD/crashes/$target-"* 2>/dev/null | head -1 || true)
    [ -n "$crash" ] && echo "    reproduce: $BUILD/bin/fuzz_$target $crash"
    return 1
  fi
}

echo "== fuzz (${SECONDS_EACH} s per target, two at a time)"
failed=0
pids=()
for target in "${TARGETS[@]}"; do
  fuzz_one "$target" &
  pids+=($!)
  if [ ${#pids[@]} -ge 2 ]; then
    wait "${pids[0]}" || failed=1
    pids=("${pids[@]:1}")
  fi
done
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
exit $failed
