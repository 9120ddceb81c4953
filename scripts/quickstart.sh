#!/usr/bin/env bash
# The README's first command. Installs what is missing, builds Cairn (Release), starts cairnd on
# 127.0.0.1 with the embedded default (SQLite metadata + chunks on local disk), pushes a sample
# folder from one working copy, clones it into another, and shows what crossed the wire.
#
#   scripts/quickstart.sh          # run the demo (again: it starts from scratch each time)
#   scripts/quickstart.sh --stop   # stop the demo daemon
#
# Everything lives in .quickstart/ (override with CAIRN_DEMO_DIR); your own ~/.config/cairn is
# not touched.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEMO=${CAIRN_DEMO_DIR:-$ROOT/.quickstart}
BIN=$ROOT/build/bin
PIDFILE=$DEMO/cairnd.pid

stop_daemon() {
  if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    kill -TERM "$(cat "$PIDFILE")"
    for _ in $(seq 50); do kill -0 "$(cat "$PIDFILE")" 2>/dev/null || break; sleep 0.1; done
    echo "stopped cairnd (pid $(cat "$PIDFILE"))"
  fi
  rm -f "$PIDFILE"
}

if [ "${1:-}" = "--stop" ]; then
  stop_daemon
  exit 0
fi

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

step "Installing what is missing"
bash "$ROOT/scripts/install-deps.sh"

step "Building (Release) into build/bin"
cmake -S "$ROOT" -B "$ROOT/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCAIRN_SANITIZE= \
  -DCAIRN_WERROR=OFF >/dev/null
ninja -C "$ROOT/build" cairn cairnd | tail -1

step "Starting cairnd on 127.0.0.1 (SQLite + local disk in $DEMO/data)"
stop_daemon
rm -rf "$DEMO"
mkdir -p "$DEMO"
"$BIN/cairnd" init --data "$DEMO/data"
TOKEN=$("$BIN/cairnd" user add demo --data "$DEMO/data" | tail -1)
nohup "$BIN/cairnd" serve --data "$DEMO/data" --listen 127.0.0.1:0 \
  >"$DEMO/cairnd.out" 2>"$DEMO/cairnd.log" &
echo $! >"$PIDFILE"
for _ in $(seq 100); do
  [ -s "$DEMO/cairnd.out" ] && break
  sleep 0.05
done
URL=$(sed -n 's/^listening on //p' "$DEMO/cairnd.out")
if [ -z "$URL" ]; then
  echo "cairnd did not start; its log:" >&2
  cat "$DEMO/cairnd.log" >&2
  exit 1
fi
echo "cairnd is listening on $URL (pid $(cat "$PIDFILE"))"

export CAIRN_CONFIG=$DEMO/client-config
# The token is a secret: it goes in on stdin, never on a command line (where ps shows it).
echo "\$ cairn login $URL    # reads the token cairnd user add printed, without echo"
printf '%s\n' "$TOKEN" | "$BIN/cairn" login "$URL"

step "Making a sample folder: source files, photos, and the same 32 MiB file twice"
SAMPLE=$DEMO/laptop
mkdir -p "$SAMPLE/src/lib" "$SAMPLE/photos/2026" "$SAMPLE/empty folder"
cp "$ROOT"/common/*.h "$SAMPLE/src/lib/"
cp "$ROOT/README.md" "$SAMPLE/README.md"
head -c $((32 << 20)) /dev/urandom >"$SAMPLE/photos/2026/holiday.raw"
cp "$SAMPLE/photos/2026/holiday.raw" "$SAMPLE/photos/2026/holiday (copy).raw"
printf '#!/bin/sh\necho "hello from cairn"\n' >"$SAMPLE/src/hello.sh"
chmod +x "$SAMPLE/src/hello.sh"
ln -s photos/2026 "$SAMPLE/latest-photos"
echo "$(find "$SAMPLE" -type f | wc -l) files, $(du -sh "$SAMPLE" | cut -f1) in $SAMPLE"

step "Pushing it: the copy of the 32 MiB file costs nothing"
show "$BIN/cairn" init "$SAMPLE" --remote "$URL/demo"
show "$BIN/cairn" -C "$SAMPLE" push

step "Cloning it into a second working copy"
show "$BIN/cairn" clone "$URL/demo" "$DEMO/desktop"
show "$BIN/cairn" -C "$DEMO/desktop" ls
show "$BIN/cairn" -C "$DEMO/desktop" ls photos/2026
if diff -r --no-dereference --exclude=.cairn "$SAMPLE" "$DEMO/desktop" >/dev/null; then
  echo "the two working copies are byte-identical"
else
  echo "the working copies differ!" >&2
  exit 1
fi

step "Changing one byte of the 32 MiB file: only the chunk around it travels"
printf 'X' | dd of="$SAMPLE/photos/2026/holiday.raw" bs=1 seek=$((16 << 20)) conv=notrunc 2>/dev/null
show "$BIN/cairn" -C "$SAMPLE" status
show "$BIN/cairn" -C "$SAMPLE" push
show "$BIN/cairn" -C "$DEMO/desktop" pull

step "Moving a folder, editing on both sides, and going back in history"
export CAIRN_DEVICE=laptop
show "$BIN/cairn" -C "$SAMPLE" mv photos pictures
CAIRN_DEVICE=desktop show "$BIN/cairn" -C "$DEMO/desktop" pull
echo "laptop's line" >>"$SAMPLE/README.md"
echo "desktop's line" >>"$DEMO/desktop/README.md"
show "$BIN/cairn" -C "$SAMPLE" push
# Both edits survive: the desktop's is kept beside the laptop's as a conflicted copy (exit 3).
CAIRN_DEVICE=desktop show "$BIN/cairn" -C "$DEMO/desktop" push || true
show "$BIN/cairn" -C "$SAMPLE" pull
show "$BIN/cairn" -C "$SAMPLE" conflicts
show "$BIN/cairn" -C "$SAMPLE" history README.md
show "$BIN/cairn" -C "$SAMPLE" restore README.md --version 1
# Resolved: the copy goes (to the server's trash, and .cairn/trash on both machines).
COPY=$(cd "$SAMPLE" && ls | grep -m1 'conflicted copy')
show "$BIN/cairn" -C "$SAMPLE" rm "$COPY"
CAIRN_DEVICE=desktop show "$BIN/cairn" -C "$DEMO/desktop" pull
if diff -r --no-dereference --exclude=.cairn "$SAMPLE" "$DEMO/desktop" >/dev/null; then
  echo "the two working copies are identical again"
else
  echo "the working copies differ!" >&2
  exit 1
fi

step "Sharing: bob gets the sources as a viewer, and a link for anyone"
BOB_TOKEN=$("$BIN/cairnd" user add bob --data "$DEMO/data" | tail -1)
show "$BIN/cairn" -C "$SAMPLE" share src bob --role viewer
export BOB="$DEMO/bob"
CAIRN_TOKEN=$BOB_TOKEN CAIRN_DEVICE=bobs-laptop show "$BIN/cairn" clone "$URL/" "$BOB"
if diff -r --no-dereference --exclude=.cairn "$SAMPLE/src" "$BOB/Shared/src" >/dev/null; then
  echo "bob has the demo user's src at Shared/src"
else
  echo "bob's copy of src differs!" >&2
  exit 1
fi
# A viewer's edit stays on bob's machine, reported, never sent.
echo "bob's idea" >>"$BOB/Shared/src/hello.sh"
CAIRN_TOKEN=$BOB_TOKEN show "$BIN/cairn" -C "$BOB" push
LINK=$("$BIN/cairn" -C "$SAMPLE" link src/hello.sh --expires 1d --json | sed -n 's/.*"url": "\(.*\)".*/\1/p')
echo "\$ curl $LINK"
curl -fsS "$LINK"

step "Live sync: the desktop watches; a new file on the laptop appears there by itself"
CAIRN_DEVICE=desktop "$BIN/cairn" -C "$DEMO/desktop" sync --watch -q &
WATCH_PID=$!
trap 'kill -INT "$WATCH_PID" 2>/dev/null || true' EXIT  # Never left behind, even on a failure.
sleep 1
echo "\$ cairn -C $DEMO/desktop sync --watch &     # inotify here, notifications from cairnd"
echo 'build/' >"$SAMPLE/.cairnignore"
mkdir -p "$SAMPLE/build"
echo "object code" >"$SAMPLE/build/hello.o"
echo "written on the laptop at $(date +%T)" >"$SAMPLE/live.txt"
show "$BIN/cairn" -C "$SAMPLE" sync --wait
for _ in $(seq 100); do
  [ -f "$DEMO/desktop/live.txt" ] && break
  sleep 0.1
done
kill -INT "$WATCH_PID" && wait "$WATCH_PID" || true
if [ "$(cat "$DEMO/desktop/live.txt" 2>/dev/null)" = "$(cat "$SAMPLE/live.txt")" ] &&
  [ ! -e "$DEMO/desktop/build" ]; then
  echo "the desktop has live.txt, and not build/ (.cairnignore: $(cat "$SAMPLE/.cairnignore"))"
else
  echo "live.txt did not reach the desktop, or build/ did!" >&2
  exit 1
fi
show "$BIN/cairn" -C "$SAMPLE" check-ignore build/hello.o

cat <<EOM

$(printf '\033[1m')Done.$(printf '\033[0m') cairnd keeps running on $URL. To go on by hand:

  export CAIRN_CONFIG=$CAIRN_CONFIG     # the demo's login (server + token)
  export PATH=$BIN:\$PATH
  cd $DEMO/laptop
  echo hi > new.txt && cairn status && cairn push
  cd $DEMO/desktop && cairn pull && cairn ls --json
  cairn sync --watch                   # keep this folder in sync until Ctrl-C

Add a user of your own:   cairnd user add NAME --data $DEMO/data
Stop the daemon:          scripts/quickstart.sh --stop     (or: kill $(cat "$PIDFILE"))
EOM
