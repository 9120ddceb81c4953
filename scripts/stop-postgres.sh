#!/usr/bin/env bash
# Stops the cluster scripts/start-postgres.sh started and deletes its folder.
set -euo pipefail
DIR=${1:-${CAIRN_TEST_POSTGRES_DIR:-}}
[ -n "$DIR" ] && [ -d "$DIR/data" ] || exit 0
BIN=$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)
[ -x "$BIN/pg_ctl" ] || BIN=/usr/lib/postgresql/15/bin
if [ "$(id -u)" -eq 0 ]; then
  (cd "$DIR" && runuser -u postgres -- "$BIN/pg_ctl" -D "$DIR/data" -m immediate stop) >/dev/null 2>&1 || true
else
  (cd "$DIR" && "$BIN/pg_ctl" -D "$DIR/data" -m immediate stop) >/dev/null 2>&1 || true
fi
rm -rf "$DIR"
