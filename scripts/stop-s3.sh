#!/usr/bin/env bash
# Stops the moto_server that scripts/start-s3.sh started.
set -euo pipefail
PID=${1:-${CAIRN_TEST_S3_PID:-}}
[ -n "$PID" ] || exit 0
kill "$PID" 2>/dev/null || true
for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || exit 0; sleep 0.05; done
kill -9 "$PID" 2>/dev/null || true
