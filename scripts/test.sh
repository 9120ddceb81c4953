#!/usr/bin/env bash
# The README's second command: installs what is missing, builds Cairn with AddressSanitizer and
# UndefinedBehaviorSanitizer, checks layering, file and function sizes and formatting, starts a
# throwaway PostgreSQL and a throwaway S3 server on 127.0.0.1, and runs every test (unit,
# end-to-end, crash loops and fuzz corpus replays, on SQLite + local disk and on PostgreSQL + S3;
# the .deb packages of the tested tree installed, run and removed) with ctest; then fuzzes every parser for a bounded time (scripts/fuzz.sh). Stops both servers
# however the run ends. Exits non-zero if anything fails. CI runs exactly this (.ci/run).
#
#   scripts/test.sh              # everything
#   scripts/test.sh -L unit      # extra arguments go to ctest
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
BUILD_DIR=${CAIRN_TEST_BUILD_DIR:-build-asan}
mkdir -p "$BUILD_DIR"
# The browser for the web page's tests downloads and installs while the build compiles.
bash scripts/install-deps.sh --browser >"$BUILD_DIR/install-browser.log" 2>&1 &
browser_install=$!

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
  -DCAIRN_SANITIZE=address,undefined -DCAIRN_WERROR=ON -DCMAKE_INSTALL_PREFIX=/usr >/dev/null
echo "== build"
ninja -C "$BUILD_DIR"
echo "== layering, size and format"
bash scripts/check-layering.sh
python3 scripts/check-size.py
bash scripts/check-format.sh
if ! wait "$browser_install"; then
  cat "$BUILD_DIR/install-browser.log"
  exit 1
fi
echo "== test servers (PostgreSQL, S3)"
cleanup() {
  [ -n "${fuzz_build:-}" ] && kill "$fuzz_build" 2>/dev/null || true
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

# The libFuzzer build (clang, build-fuzz/) compiles meanwhile, as an idle-class job (SCHED_IDLE):
# it gets only the CPU the tests leave idle (waiting on processes and disks), and a test that
# wakes never waits behind it. At nice 19 it, and the fuzzing once run beside the tests too,
# made the first tests two to three times slower (TreeTest: 210 s instead of 61). Not when ctest
# was given a filter.
fuzz_build=""
if [ $# -eq 0 ]; then
  chrt --idle 0 nice -n 19 bash scripts/fuzz.sh 0 >"$BUILD_DIR/fuzz-build.log" 2>&1 &
  fuzz_build=$!
fi

echo "== tests"
# Screenshots of the web page's tests (tests/e2e/test_web.py) are kept here.
export CAIRN_ARTIFACTS_DIR=${CAIRN_ARTIFACTS_DIR:-$PWD/$BUILD_DIR/artifacts}
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)" "$@"

# Every parser of outside bytes under libFuzzer for a bounded time (scripts/fuzz.sh runs them for
# longer by hand).
if [ -n "$fuzz_build" ]; then
  if ! wait "$fuzz_build"; then
    cat "$BUILD_DIR/fuzz-build.log"
    exit 1
  fi
  echo "== fuzzing (${CAIRN_FUZZ_SECONDS:-6} s per target)"
  bash scripts/fuzz.sh "${CAIRN_FUZZ_SECONDS:-6}"
fi
