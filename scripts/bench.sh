#!/usr/bin/env bash
# Cairn's throughput and memory figures on this machine (issue 2's targets):
#   - initial push of a 1 GiB incompressible file vs `openssl dgst -sha256` of the same file
#   - pull (clone) of it, and cairnd's peak RSS while it receives the file
#   - push and clone of a tree of 20,000 small files (files/s)
#   - `cairn status` on that tree with nothing changed
# plus Google Benchmark microbenchmarks of the chunker and hashes.
#
#   scripts/bench.sh                 # data under $CAIRN_BENCH_DIR (default /tmp/cairn-bench)
#   scripts/bench.sh --backend postgres+s3   # PostgreSQL metadata, S3 (moto) blobs
#   CAIRN_BENCH_FILES=5000 scripts/bench.sh
#   scripts/bench.sh --peers         # Cairn against restic, borg, rclone and rsync, the last two
#                                    # also followed by `sync -f` (issues 4, 18): a 1 GiB file,
#                                    # 50,000 small files and a long-tailed "real" tree; installs
#                                    # the peers from Debian, ~25 minutes, ~25 GB of disk
#   scripts/bench.sh --peers --corpora real             # the long-tailed tree only
#   scripts/bench.sh --peers --files 5000 --big-mib 256 --real-small 6000 --real-large 15
#   scripts/bench.sh --load          # metadata under load (issue 18): 1, 10 and 50 keep-alive
#                                    # clients; per-route p50/p99, daemon CPU per request
#   scripts/bench.sh --live          # live sync (issue 7): edit propagation A -> B p50/p99 over
#                                    # 200 edits, memory of 1,000 idle /v1/notify WebSockets
#
# With --backend postgres+s3 the throwaway PostgreSQL and S3 servers are started (unless
# CAIRN_TEST_POSTGRES_URL / CAIRN_TEST_S3_URL already point at running ones) and stopped after.
# moto_server is a Python test server: S3 figures measure Cairn plus moto, not Cairn plus AWS.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BACKEND=sqlite+local
PEERS=
LIVE=
LOAD=
ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --backend) BACKEND=$2; shift 2 ;;
    --backend=*) BACKEND=${1#--backend=}; shift ;;
    --peers) PEERS=1; shift ;;
    --live) LIVE=1; shift ;;
    --load) LOAD=1; shift ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
bash "$ROOT/scripts/install-deps.sh"
cmake -S "$ROOT" -B "$ROOT/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCAIRN_SANITIZE= \
  -DCAIRN_WERROR=OFF >/dev/null
ninja -C "$ROOT/build" cairn cairnd cairn_micro_bench >/dev/null
if [ -n "$LIVE" ]; then
  echo "== live sync (sqlite+local, 127.0.0.1)"
  exec python3 "$ROOT/tests/bench/live.py" --bin "$ROOT/build/bin" ${ARGS[@]+"${ARGS[@]}"}
fi
if [ -n "$LOAD" ]; then
  echo "== metadata under load (sqlite+local, 127.0.0.1)"
  exec python3 "$ROOT/tests/bench/load.py" --bin "$ROOT/build/bin" ${ARGS[@]+"${ARGS[@]}"}
fi
if [ -n "$PEERS" ]; then
  missing=()
  for pkg in restic borgbackup rclone rsync; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$' ||
      missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    SUDO=$([ "$(id -u)" -eq 0 ] || echo sudo)
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
  fi
  echo "== Cairn against restic $(restic version | cut -d' ' -f2), borg $(borg --version |
    cut -d' ' -f2), rclone $(rclone version | head -1 | cut -d' ' -f2), rsync $(rsync --version |
    head -1 | awk '{print $3}')"
  exec python3 "$ROOT/tests/bench/peers.py" --bin "$ROOT/build/bin" ${ARGS[@]+"${ARGS[@]}"}
fi
echo "== microbenchmarks (one core)"
"$ROOT/build/bin/cairn_micro_bench" --benchmark_min_time=0.3 2>/dev/null |
  grep -E '^(BM_|Benchmark|-)' || true
if [ "$BACKEND" = "postgres+s3" ]; then
  cleanup() {
    [ -n "${STARTED_S3:-}" ] && bash "$ROOT/scripts/stop-s3.sh" || true
    [ -n "${STARTED_PG:-}" ] && bash "$ROOT/scripts/stop-postgres.sh" || true
  }
  trap cleanup EXIT
  if [ -z "${CAIRN_TEST_POSTGRES_URL:-}" ]; then
    eval "$(bash "$ROOT/scripts/start-postgres.sh")"
    STARTED_PG=1
  fi
  if [ -z "${CAIRN_TEST_S3_URL:-}" ]; then
    eval "$(bash "$ROOT/scripts/start-s3.sh")"
    STARTED_S3=1
  fi
fi
echo "== end to end"
python3 "$ROOT/tests/bench/bench.py" --bin "$ROOT/build/bin" --backend "$BACKEND" ${ARGS[@]+"${ARGS[@]}"}
