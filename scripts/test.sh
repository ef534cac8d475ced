#!/usr/bin/env bash
# Builds groupshare and runs every test (unit and end-to-end). Installs what is missing first.
# A full run (no arguments) then runs the end-to-end suite again with every tracker on a
# throwaway PostgreSQL cluster (meson's test setup 'pg', GS_TEST_DB=postgresql) instead of SQLite,
# but for the tests that always run on PostgreSQL (suite 'pg'), already run once.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
scripts/build.sh
meson test -C "${BUILD_DIR:-build}" --print-errorlogs "$@"
if [[ $# -eq 0 ]]; then
    meson test -C "${BUILD_DIR:-build}" --print-errorlogs --setup pg --suite e2e --no-suite pg
fi
