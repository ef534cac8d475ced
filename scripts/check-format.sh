#!/usr/bin/env bash
# Checks that every tracked C++ file is formatted by the repository's .clang-format (CI runs
# this; a file that drifts fails the run and is named). `--fix` formats them in place instead.
# Debian 12's clang-format (14) is the reference version: another version may format a few
# constructs differently.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --format
mapfile -t files < <(git ls-files '*.cpp' '*.hpp')
if [[ "${1:-}" == "--fix" ]]; then
    clang-format -i "${files[@]}"
    exit 0
fi
[[ $# -eq 0 ]] || { echo "check-format.sh: unknown argument '$1' (use --fix or nothing)" >&2; exit 2; }
drift=()
for f in "${files[@]}"; do
    clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || drift+=("$f")
done
if [[ ${#drift[@]} -gt 0 ]]; then
    echo "check-format.sh: ${#drift[@]} file(s) differ from .clang-format; run scripts/check-format.sh --fix:" >&2
    printf '  %s\n' "${drift[@]}" >&2
    exit 1
fi
echo "check-format.sh: ${#files[@]} C++ files match .clang-format"
