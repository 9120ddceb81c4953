#!/usr/bin/env bash
# The README's second command: installs what is missing, builds Cairn with AddressSanitizer and
# UndefinedBehaviorSanitizer, checks layering, file and function sizes and formatting, starts a
# throwaway PostgreSQL and a throwaway S3 server on 127.0.0.1, and runs every test (unit,
# end-to-end, crash loops and fuzz corpus replays, on SQLite + local disk and on PostgreSQL + S3)
# with ctest, fuzzing every parser for a bounded time beside it (scripts/fuzz.sh). Stops both
# servers however the run ends. Exits non-zero if anything fails. CI runs exactly this (.ci/run).
#
#   scripts/test.sh              # everything
#   scripts/test.sh -L unit      # extra arguments go to ctest
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

BUILD_DIR=${CAIRN_TEST_BUILD_DIR:-build-asan}
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
# Leak checking stays on; a sanitizer finding aborts the test that triggered it.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# -O1 -g1 (line tables: sanitizer reports still name file and line) rather than RelWithDebInfo's
# -O2 -g: the cold build of the sanitized tree is most of a CI run, and these flags make it about
# twice as fast (http/server.cpp alone: 219 s at -O2 -g, 90 s at -O1 -g1, on this 2-core VM).
echo "== configure ($BUILD_DIR: -O1 -g1, address+undefined sanitizers)"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
  -DCAIRN_SANITIZE=address,undefined -DCAIRN_WERROR=ON >/dev/null
echo "== build"
ninja -C "$BUILD_DIR"
echo "== layering, size and format"
bash scripts/check-layering.sh
python3 scripts/check-size.py
bash scripts/check-format.sh
echo "== test servers (PostgreSQL, S3)"
cleanup() {
  [ -n "${fuzz_job:-}" ] && kill -- -"$fuzz_job" 2>/dev/null || true
  bash scripts/stop-s3.sh || true
  bash scripts/stop-postgres.sh || true
}
trap cleanup EXIT
eval "$(bash scripts/start-postgres.sh)"
eval "$(bash scripts/start-s3.sh)"
# The servers are up: a test that cannot reach one fails instead of skipping.
export CAIRN_TEST_REQUIRE=postgres,s3
echo "   postgres: $CAIRN_TEST_POSTGRES_URL"
echo "   s3:       $CAIRN_TEST_S3_URL"

# The libFuzzer build (clang, build-fuzz/) compiles meanwhile at the lowest priority, then fuzzes
# every parser of outside bytes for a bounded time (scripts/fuzz.sh runs them for longer by hand):
# the tests leave about a quarter of the CPU idle (waiting on processes and disks), and that is
# most of what both need. Not when ctest was given a filter.
fuzz_job=""
if [ $# -eq 0 ]; then
  fuzz_seconds=${CAIRN_FUZZ_SECONDS:-20}
  # At nice 19 beside two cores' worth of tests, a fuzzer may get no CPU for seconds: an input
  # counts as a hang after 120 s rather than 10.
  CAIRN_FUZZ_TIMEOUT=${CAIRN_FUZZ_TIMEOUT:-120} \
    setsid nice -n 19 bash -c "bash scripts/fuzz.sh 0 && bash scripts/fuzz.sh $fuzz_seconds" \
    >"$BUILD_DIR/fuzz.log" 2>&1 &
  fuzz_job=$!
fi

echo "== tests"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)" "$@"

if [ -n "$fuzz_job" ]; then
  echo "== fuzzing ($fuzz_seconds s per target, beside the tests)"
  status=0
  wait "$fuzz_job" || status=$?
  grep -v '^\[' "$BUILD_DIR/fuzz.log"  # The summary, without ninja's progress lines.
  exit "$status"
fi
