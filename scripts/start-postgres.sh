#!/usr/bin/env bash
# Starts a throwaway PostgreSQL 15 cluster (Debian's packages) on a free port of 127.0.0.1, in a
# temporary folder, as the unprivileged postgres user when run as root (the server refuses
# root). Durability is off: it is for tests. Prints export lines:
#
#   eval "$(scripts/start-postgres.sh)"      # sets CAIRN_TEST_POSTGRES_URL, CAIRN_TEST_POSTGRES_DIR
#   scripts/stop-postgres.sh
#
# CAIRN_PG_PARENT: where the temporary folder goes (default /tmp); a test that fills the cluster's
# disk gives a small filesystem of its own.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)
[ -x "$BIN/initdb" ] || BIN=/usr/lib/postgresql/15/bin
if [ ! -x "$BIN/initdb" ]; then
  echo "start-postgres: no initdb (install postgresql-15: scripts/install-deps.sh)" >&2
  exit 1
fi
DIR=$(mktemp -d "${CAIRN_PG_PARENT:-/tmp}/cairn-pg.XXXXXX")
chmod 755 "$DIR"
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$DIR"
    (cd "$DIR" && runuser -u postgres -- "$@")
  else
    (cd "$DIR" && "$@")
  fi
}
as_owner "$BIN/initdb" -D "$DIR/data" -A trust -U postgres -E UTF8 --no-sync >"$DIR/initdb.log" 2>&1 || {
  cat "$DIR/initdb.log" >&2
  exit 1
}
for attempt in 1 2 3 4 5; do
  PORT=$(python3 "$HERE/free-port.py")
  if as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 30 start \
      -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c fsync=off -c synchronous_commit=off \
          -c full_page_writes=off -c max_connections=200" >/dev/null 2>&1; then
    echo "export CAIRN_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:$PORT/postgres"
    echo "export CAIRN_TEST_POSTGRES_DIR=$DIR"
    exit 0
  fi
  sleep 0.2  # The port was taken between choosing and binding: choose again.
done
echo "start-postgres: could not start; log:" >&2
cat "$DIR/server.log" >&2
exit 1
