#!/usr/bin/env bash
# Starts moto_server (an S3-compatible test server, in the machine's Python) on a free port of
# 127.0.0.1 with one bucket. It checks no signatures: SigV4 is proven by known-answer tests.
# Prints export lines:
#
#   eval "$(scripts/start-s3.sh)"   # CAIRN_TEST_S3_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
#                                   # AWS_DEFAULT_REGION, CAIRN_TEST_S3_PID
#   scripts/stop-s3.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
if ! command -v moto_server >/dev/null; then
  echo "start-s3: moto_server not found (it comes with the machine's Python)" >&2
  exit 1
fi
LOG=$(mktemp /tmp/cairn-s3.XXXXXX.log)
for attempt in 1 2 3 4 5; do
  PORT=$(python3 "$HERE/free-port.py")
  setsid moto_server -H 127.0.0.1 -p "$PORT" >"$LOG" 2>&1 </dev/null &
  PID=$!
  for _ in $(seq 100); do
    if curl -fs "http://127.0.0.1:$PORT/moto-api/" >/dev/null 2>&1; then
      curl -fs -X PUT "http://127.0.0.1:$PORT/cairn-test" >/dev/null
      echo "export CAIRN_TEST_S3_URL='s3://cairn-test?endpoint=http://127.0.0.1:$PORT&region=us-east-1'"
      echo "export AWS_ACCESS_KEY_ID=testing"
      echo "export AWS_SECRET_ACCESS_KEY=testing"
      echo "export AWS_DEFAULT_REGION=us-east-1"
      echo "export CAIRN_TEST_S3_PID=$PID"
      exit 0
    fi
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.05
  done
  kill "$PID" 2>/dev/null || true
done
echo "start-s3: moto_server did not start; log:" >&2
cat "$LOG" >&2
exit 1
