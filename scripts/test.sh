#!/usr/bin/env bash
# The README's second command: installs what is missing, builds Cairn with AddressSanitizer and
# UndefinedBehaviorSanitizer, checks layering and formatting, and runs every test (unit and end-to-end) with
# ctest. Exits non-zero if anything fails. CI runs exactly this (.ci/run).
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

echo "== configure ($BUILD_DIR: RelWithDebInfo, address+undefined sanitizers)"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCAIRN_SANITIZE=address,undefined -DCAIRN_WERROR=ON >/dev/null
echo "== build"
ninja -C "$BUILD_DIR"
echo "== layering and format"
bash scripts/check-layering.sh
bash scripts/check-format.sh
echo "== tests"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)" "$@"
