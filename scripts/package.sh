#!/usr/bin/env bash
# Builds the Debian packages cairn_VERSION_ARCH.deb (the client) and cairnd_VERSION_ARCH.deb (the
# server) with CPack (cmake/install.cmake says what goes in each; docs/install.md how to use them).
#
#   scripts/package.sh                   # a Release build in build-package/ (binaries only)
#   scripts/package.sh --from build-asan # package an existing build tree instead (CI packages the
#                                        # sanitized tree it tested, saving a second compile)
#   CAIRN_DEB_COMPRESSION=gzip scripts/package.sh   # faster to build than the default xz
#   CAIRN_DEB_STRIP=OFF scripts/package.sh          # keep the binaries' symbols
#
# The packages land in BUILD/packages/, whose path is printed last. The build tree is configured
# with the install prefix /usr, which the unit files and /etc/default/cairnd name.
set -euo pipefail
cd "$(dirname "$0")/.."

build=build-package
from=""
while [ $# -gt 0 ]; do
  case "$1" in
    --from) from=${2:?--from needs a build folder}; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "package.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
for tool in cmake ninja cpack dpkg-shlibdeps fakeroot; do
  if ! command -v "$tool" >/dev/null; then
    echo "package.sh: $tool is missing (scripts/install-deps.sh installs it)" >&2
    exit 2
  fi
done
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}

if [ -n "$from" ]; then
  build=$from
  [ -f "$build/CMakeCache.txt" ] || { echo "package.sh: $build is not a build tree" >&2; exit 2; }
  cmake -S . -B "$build" -DCMAKE_INSTALL_PREFIX=/usr >/dev/null
else
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCAIRN_SANITIZE= \
    -DCAIRN_BUILD_TESTS=OFF -DCAIRN_BUILD_BENCH=OFF -DCMAKE_INSTALL_PREFIX=/usr >/dev/null
fi
echo "== build ($build)"
ninja -C "$build" cairn cairnd man_pages | tail -1
echo "== cpack"
out="$(cd "$build" && pwd)/packages"
rm -rf "$out"
(cd "$build" && cpack -G DEB -B "$out" \
  -D CPACK_DEBIAN_COMPRESSION_TYPE="${CAIRN_DEB_COMPRESSION:-xz}" \
  -D CPACK_STRIP_FILES="${CAIRN_DEB_STRIP:-ON}" >cpack.log 2>&1) || {
  cat "$build/cpack.log" >&2
  exit 1
}
rm -rf "$out/_CPack_Packages"
for deb in "$out"/*.deb; do
  printf '%s: %s\n' "$(basename "$deb")" \
    "$(dpkg-deb -f "$deb" Depends)"
done
echo "$out"
