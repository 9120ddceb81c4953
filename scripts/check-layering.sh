#!/usr/bin/env bash
# Fails if a layer includes what it must not see. Two kinds of rule (docs/architecture.md, "The
# layers"):
#
# Cairn's own layers. Each folder may include only the folders listed for it; a layer never
# reaches up, and the daemon and the client never include each other:
#
#   common/                 common/ (chunking, hashing, manifests, packs, protocol, paths)
#   lib/                    common/, lib/ (RAII over the SQLite C API; manual pages from CLI11)
#   daemon/store/           common/, lib/, daemon/store/
#   daemon/service/         common/, daemon/store/, daemon/service/
#   daemon/api/             common/, daemon/service/, daemon/api/ (not the store directly)
#   daemon/http/            common/, daemon/api/, daemon/http/
#   daemon/web/             common/, daemon/service/, daemon/api/ (its types), daemon/web/
#   daemon/commands/        common/, daemon/ (cairnd's admin commands wire everything)
#   daemon/main.cpp         daemon/commands/, lib/man/ (its manual pages)
#   cli/client/net/         common/, cli/client/net/
#   cli/client/state/       common/, lib/, cli/client/net/, cli/client/state/
#   cli/client/tree/        common/, cli/client/state/, cli/client/tree/
#   cli/client/*.h|.cpp     common/, cli/client/ top level (printer, progress, reports)
#   cli/client/sync/        common/, cli/client/ (everything of the client library)
#   cli/commands/           common/, cli/client/, cli/commands/
#   cli/main.cpp            common/, lib/man/, cli/client/, cli/commands/
#
# Third-party libraries stay where they belong:
#   common/            no boost/, curl/, sqlite3.h, pqxx/ (and no JSON outside common/protocol/)
#   daemon/            JSON only in daemon/commands/ (what cairnd --json prints); the API's
#                      JSON is common/protocol/'s
#   everything         no boost/ outside daemon/http/ and cli/client/net/notify_client.cpp (the
#                      client's one WebSocket, behind a Boost-free header)
#   daemon/            no curl/ outside daemon/store/s3/ (the S3 client)
set -euo pipefail
cd "$(dirname "$0")/.."

fail=0
check() {  # check DESCRIPTION PATTERN PATHS...
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

# layer NAME "ALLOWED PREFIXES" FILES...: every project include of FILES starts with one of the
# allowed prefixes (a prefix ending in '/' is a folder, or a file name matched as a regex).
layer() {
  local name=$1 allowed=$2
  shift 2
  local file inc ok prefix
  for file in "$@"; do
    while IFS= read -r inc; do
      ok=0
      for prefix in $allowed; do
        if [[ "$inc" =~ ^${prefix} ]]; then
          ok=1
          break
        fi
      done
      if [ "$ok" -eq 0 ]; then
        echo "layering: $name may not include $inc ($file)" >&2
        fail=1
      fi
    done < <(sed -nE 's/^#include "([^"]+)".*/\1/p' "$file")
  done
}

sources() { find "$@" \( -name '*.h' -o -name '*.cpp' \) -print | sort; }

layer common "common/" $(sources common)
layer lib "common/ lib/" $(sources lib)
layer daemon/store "common/ lib/ daemon/store/" $(sources daemon/store)
layer daemon/service "common/ daemon/store/ daemon/service/" $(sources daemon/service)
layer daemon/api "common/ daemon/service/ daemon/api/" $(sources daemon/api)
layer daemon/http "common/ daemon/api/ daemon/http/" $(sources daemon/http)
layer daemon/web "common/ daemon/service/ daemon/api/ daemon/web/" $(sources daemon/web)
layer daemon/commands "common/ daemon/" $(sources daemon/commands)
layer daemon/main.cpp "daemon/commands/ lib/man/" daemon/main.cpp
layer cli/client/net "common/ cli/client/net/" $(sources cli/client/net)
layer cli/client/state "common/ lib/ cli/client/net/ cli/client/state/" $(sources cli/client/state)
layer cli/client/tree "common/ cli/client/state/ cli/client/tree/" $(sources cli/client/tree)
layer "cli/client (top level)" "common/ cli/client/[a-z_]+\.h" \
  $(find cli/client -maxdepth 1 \( -name '*.h' -o -name '*.cpp' \) | sort)
layer cli/client/sync "common/ cli/client/" $(sources cli/client/sync)
layer cli/commands "common/ cli/client/ cli/commands/" $(sources cli/commands)
layer cli/main.cpp "common/ lib/man/ cli/client/ cli/commands/" cli/main.cpp

check "common/ must not include network, database or Boost headers" \
  '#include\s*[<"](boost/|curl/|sqlite3\.h|pqxx/)' common
check "the JSON library stays in common/protocol/, the CLI printer and cairnd's commands" \
  '#include\s*[<"]nlohmann/' common/*.h common/*.cpp daemon/api daemon/http daemon/service \
  daemon/store daemon/web daemon/main.cpp lib
check "Boost stays in daemon/http/ and cli/client/net/notify_client.cpp" \
  '#include\s*[<"]boost/' common lib cli/main.cpp cli/commands \
  $(sources cli/client | grep -v '/notify_client\.cpp$') daemon/api daemon/service \
  daemon/store daemon/commands daemon/main.cpp
check "only the S3 client in daemon/ speaks HTTP as a client" \
  '#include\s*[<"]curl/' daemon/api daemon/http daemon/service daemon/commands daemon/main.cpp \
  daemon/store/*.h daemon/store/*.cpp daemon/store/sql

if [ "$fail" -ne 0 ]; then
  exit 1
fi
echo "layering: ok"
