#!/usr/bin/env bash
# Builds groupshare and runs every test (unit and end-to-end). Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
scripts/build.sh
meson test -C "${BUILD_DIR:-build}" --print-errorlogs "$@"
