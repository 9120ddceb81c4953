#!/usr/bin/env bash
# Installs the Debian 12 packages Cairn needs to build, test and benchmark; with --browser,
# instead, Chromium and ChromeDriver, which the web page's end-to-end tests drive (scripts/test.sh
# installs them while it builds).
# Idempotent: when every package is already present it asks apt nothing and returns at once.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  libcli11-dev libcurl4-openssl-dev libsqlite3-dev libxxhash-dev libssl-dev
  libboost-dev libpqxx-dev libpq-dev libutf8proc-dev libzstd-dev zlib1g-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-format postgresql-15 python3 curl strace time unzip
  clang-14 libclang-rt-14-dev
  dpkg-dev fakeroot adduser man-db systemd
)
if [ "${1:-}" = "--browser" ]; then
  PACKAGES=(chromium chromium-driver)
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi

echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done" >&2
