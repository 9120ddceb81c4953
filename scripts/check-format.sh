#!/usr/bin/env bash
# Fails if any C++ source differs from clang-format's output. `--fix` rewrites them instead.
# Pinned to clang-format 14 (Debian 12): other majors format some constructs differently.
set -euo pipefail
cd "$(dirname "$0")/.."
FORMAT=${CLANG_FORMAT:-clang-format-14}
command -v "$FORMAT" >/dev/null || FORMAT=clang-format
if ! "$FORMAT" --version | grep -q 'version 14\.'; then
  echo "check-format: needs clang-format 14, found: $("$FORMAT" --version)" >&2
  exit 1
fi
mapfile -t files < <(git ls-files '*.h' '*.cpp')
if [ "${1:-}" = "--fix" ]; then
  "$FORMAT" -i "${files[@]}"
  exit 0
fi
"$FORMAT" --dry-run --Werror "${files[@]}"
echo "format: ok (${#files[@]} files)"
