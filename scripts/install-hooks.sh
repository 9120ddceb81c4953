#!/usr/bin/env bash
# Installs a git pre-commit hook that refuses a commit whose staged C++ files are not
# clang-formatted (fix with scripts/check-format.sh --fix) or that breaks the layering rules.
set -euo pipefail
cd "$(dirname "$0")/.."
HOOKS_DIR=$(git rev-parse --git-path hooks)
mkdir -p "$HOOKS_DIR"
HOOK=$HOOKS_DIR/pre-commit
cat >"$HOOK" <<'HOOK'
#!/usr/bin/env bash
set -euo pipefail
FORMAT=clang-format-14
command -v "$FORMAT" >/dev/null || FORMAT=clang-format
mapfile -t files < <(git diff --cached --name-only --diff-filter=ACM -- '*.h' '*.cpp')
if [ ${#files[@]} -gt 0 ] && ! "$FORMAT" --dry-run --Werror "${files[@]}" 2>/dev/null; then
  echo "pre-commit: staged files are not formatted; run scripts/check-format.sh --fix" >&2
  exit 1
fi
bash scripts/check-layering.sh >/dev/null
HOOK
chmod +x "$HOOK"
echo "installed $HOOK"
