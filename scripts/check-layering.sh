#!/usr/bin/env bash
# Fails if a layer includes what it must not see (the rules below; README, "Layout"):
#   common/            no boost/, curl/, sqlite3.h, pqxx/ (and no JSON outside common/protocol/)
#   everything         no boost/ outside daemon/http/ and cli/client/net/notify_client.cpp (the
#                      client's one WebSocket, behind a Boost-free header)
#   daemon/         no curl/ outside daemon/store/s3/ (the S3 client)
set -euo pipefail
cd "$(dirname "$0")/.."

fail=0
check() {  # check DESCRIPTION PATTERN PATHS... [-- EXCLUDE_PATH]
  local what=$1 pattern=$2
  shift 2
  local hits
  hits=$(grep -rnE "$pattern" "$@" --include='*.h' --include='*.cpp' 2>/dev/null || true)
  if [ -n "$hits" ]; then
    echo "layering: $what" >&2
    echo "$hits" >&2
    fail=1
  fi
}

check "common/ must not include network, database or Boost headers" \
  '#include\s*[<"](boost/|curl/|sqlite3\.h|pqxx/)' common
check "the JSON library stays in common/protocol/ and the CLI printer" \
  '#include\s*[<"]nlohmann/' common/*.h common/*.cpp daemon lib
check "Boost stays in daemon/http/ and cli/client/net/notify_client.cpp" \
  '#include\s*[<"]boost/' common lib cli/main.cpp cli/commands cli/client/*.h cli/client/*/*.h \
  $(ls cli/client/*.cpp cli/client/*/*.cpp | grep -v '/notify_client\.cpp$') daemon/api daemon/service \
  daemon/store daemon/main.cpp
check "only the S3 client in daemon/ speaks HTTP as a client" \
  '#include\s*[<"]curl/' daemon/api daemon/http daemon/service daemon/main.cpp daemon/store/*.h \
  daemon/store/*.cpp daemon/store/sql

if [ "$fail" -ne 0 ]; then
  exit 1
fi
echo "layering: ok"
