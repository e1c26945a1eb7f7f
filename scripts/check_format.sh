#!/usr/bin/env bash
# Format check: clang-format-14 --dry-run -Werror (the repo's .clang-format) on the C++ files
# changed between BASE and HEAD plus those changed in the working tree (staged, unstaged or new
# and not ignored). BASE defaults to HEAD~1 when HEAD has a parent; without one only working-tree
# changes are checked. With BASE given, the commits HEAD has since its merge base with BASE.
# Deleted files are skipped; whole files are checked, not only their changed lines.
# Usage: scripts/check_format.sh [BASE]        e.g. scripts/check_format.sh origin/main
set -euo pipefail
cd "$(dirname "$0")/.."

CLANG_FORMAT="${CLANG_FORMAT:-clang-format-14}"
if ! command -v "$CLANG_FORMAT" >/dev/null; then
  echo "check_format: $CLANG_FORMAT not found (scripts/install-deps.sh installs it)" >&2
  exit 2
fi

if ! git rev-parse -q --verify 'HEAD^{commit}' >/dev/null 2>&1; then
  echo "check_format: no commit to compare with (not a git checkout, or no commits yet)"
  exit 0
fi
base="${1:-}"
if [ -z "$base" ] && git rev-parse -q --verify 'HEAD~1^{commit}' >/dev/null; then
  base=HEAD~1
fi
if [ -n "$base" ] && ! git rev-parse -q --verify "$base^{commit}" >/dev/null; then
  echo "check_format: $base is not a commit" >&2
  exit 2
fi

# C++ sources by extension (ops.def-style X-macro files are not formatted).
cxx=('*.h' '*.hpp' '*.cpp' '*.cc' '*.cxx' '*.inc')
changed_files() {
  # Committed: what HEAD changed since it forked from BASE (BASE...HEAD, so a BASE branch that
  # moved on does not pull in others' files); for HEAD~1, the last commit.
  if [ -n "$base" ]; then git diff --name-only --diff-filter=d "$base...HEAD" -- "${cxx[@]}"; fi
  git diff --name-only --diff-filter=d HEAD -- "${cxx[@]}"  # staged and unstaged
  git ls-files --others --exclude-standard -- "${cxx[@]}"   # new, not yet added
}
mapfile -t files < <(changed_files | LC_ALL=C sort -u)

existing=()
for f in "${files[@]}"; do
  [ -f "$f" ] && existing+=("$f")
done
if ((${#existing[@]} == 0)); then
  echo "check_format: no C++ file changed${base:+ since $base} or uncommitted"
  exit 0
fi
if "$CLANG_FORMAT" --dry-run -Werror "${existing[@]}"; then
  echo "check_format: ${#existing[@]} file(s) formatted" \
    "(changed${base:+ since $base} or uncommitted)"
else
  echo "check_format: run $CLANG_FORMAT -i on the files above" >&2
  exit 1
fi
