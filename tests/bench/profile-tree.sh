#!/usr/bin/env bash
# Pushes a tree to a fresh local cairnd and clones it back (cold page cache), printing each
# side's wall time, CPU and peak RSS, and the bytes the daemon wrote. The figures in
# docs/decisions.md and the issue notes on the 50,000-file tree come from this script.
#
#   tests/bench/profile-tree.sh TREE [WORKDIR]     # TREE: e.g. the src-tree of bench.sh --peers
#   PERF=1 tests/bench/profile-tree.sh TREE        # also perf-record both processes (-g)
#   PERF_CALLGRAPH="--call-graph dwarf,16384" PERF_FREQ=150   # the daemon's stacks through
#                                                  # libraries built without frame pointers
#   CLONE=0 tests/bench/profile-tree.sh TREE       # the push only
#
# Dropping the page cache before the clone needs root; without it the clone reads warm.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${CAIRN_BIN_DIR:-$ROOT/build/bin}
TREE=${1:?usage: profile-tree.sh TREE [WORKDIR]}
WORK=${2:-/tmp/cairn-profile}
rm -rf "$WORK" && mkdir -p "$WORK"
"$BIN/cairnd" init --data "$WORK/data" >/dev/null
TOKEN=$("$BIN/cairnd" user add bench --data "$WORK/data" | tail -1)
"$BIN/cairnd" serve --data "$WORK/data" --listen 127.0.0.1:0 >"$WORK/url" 2>"$WORK/cairnd.log" &
DPID=$!
trap 'kill $DPID 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -s "$WORK/url" ] && break; sleep 0.1; done
URL=$(sed 's/listening on //' "$WORK/url")
export CAIRN_CONFIG=$WORK/client-config CAIRN_TOKEN=$TOKEN CAIRN_DEVICE=profile
cp -r "$TREE" "$WORK/tree" && rm -rf "$WORK/tree/.cairn" && sync
"$BIN/cairn" init "$WORK/tree" --remote "$URL/t" >/dev/null

daemon_cpu() { awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$DPID/stat"; }
daemon_wchar() { awk '/^wchar/ {print $2}' "/proc/$DPID/io"; }
PERF_PID=""
WRAP=()
if [ "${PERF:-0}" = 1 ]; then
  perf record -F ${PERF_FREQ:-499} ${PERF_CALLGRAPH:--g} -p "$DPID" -o "$WORK/cairnd.perf" 2>/dev/null & PERF_PID=$!
  WRAP=(perf record -F 499 -g -o "$WORK/cairn.perf")
  sleep 0.5
fi
C0=$(daemon_cpu); W0=$(daemon_wchar)
/usr/bin/time -f "push:  %e s wall, client %U s user %S s sys, %M KiB peak" \
  ${WRAP[@]+"${WRAP[@]}"} "$BIN/cairn" -C "$WORK/tree" push --json >"$WORK/push.json"
C1=$(daemon_cpu); W1=$(daemon_wchar)
echo "push:  cairnd $(awk -v a="$C1" -v b="$C0" 'BEGIN {printf "%.2f", a - b}') s CPU, wrote $(( (W1 - W0) / 1000000 )) MB"
[ -n "$PERF_PID" ] && { kill -INT "$PERF_PID"; wait "$PERF_PID" || true; }
if [ "${CLONE:-1}" = 0 ]; then
  echo "cairnd peak RSS: $(awk '/VmHWM/ {print $2, $3}' "/proc/$DPID/status")"
  exit 0
fi
sync
echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || echo "(page cache not dropped: not root)"
/usr/bin/time -f "clone: %e s wall, client %U s user %S s sys, %M KiB peak" \
  "$BIN/cairn" clone "$URL/t" "$WORK/clone" --json >"$WORK/clone.json"
C2=$(daemon_cpu)
echo "clone: cairnd $(awk -v a="$C2" -v b="$C1" 'BEGIN {printf "%.2f", a - b}') s CPU"
echo "cairnd peak RSS: $(awk '/VmHWM/ {print $2, $3}' "/proc/$DPID/status"); request log: $WORK/cairnd.log"
