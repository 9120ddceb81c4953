#!/usr/bin/env bash
# ThreadSanitizer run for whoever touches concurrent code (the push pipeline, the downloader,
# the HTTP server, the stores). Not part of CI: it doubles the build. Extra arguments go to ctest.
#
#   scripts/tsan.sh              # unit and end-to-end tests under TSan
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
BUILD_DIR=${CAIRN_TSAN_BUILD_DIR:-build-tsan}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAIRN_SANITIZE=thread \
  >/dev/null
ninja -C "$BUILD_DIR"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)" "$@"
