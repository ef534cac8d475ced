#!/usr/bin/env bash
# Installs the Debian packages groupshare needs to build, test and demo — only those missing.
# Usage: scripts/install-deps.sh [--test] [--sanitize] [--format]
#   --test      adds what the test suite needs (libtorrent for the interoperability test, the
#               PostgreSQL 15 server for the PostgreSQL store tests)
#   --sanitize  adds clang and its runtimes (libFuzzer, sanitizers) for scripts/sanitize.sh
#   --format    adds clang-format for scripts/check-format.sh
set -euo pipefail

packages=(g++ meson ninja-build pkg-config python3 sqlite3 libsqlite3-dev libpq-dev libssl-dev
          libsodium-dev libfmt-dev libreadline-dev libgtest-dev libgmock-dev)
for arg in "$@"; do
    case "$arg" in
        --test) packages+=(python3-libtorrent postgresql-15) ;;
        --sanitize) packages+=(clang libclang-rt-14-dev) ;;
        --format) packages+=(clang-format) ;;
        *) echo "install-deps.sh: unknown option '$arg' (use --test, --sanitize and/or --format)" >&2; exit 2 ;;
    esac
done

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "installing: ${missing[*]}"
sudo=""
[[ $(id -u) -ne 0 ]] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
