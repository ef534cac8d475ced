#!/usr/bin/env bash
# Issue 12: the fail-over time a client sees, median and worst of KILLS (20) SIGKILLs of the
# tracker it uses (two trackers on one throwaway PostgreSQL cluster). Installs what is missing
# (scripts/install-deps.sh --test brings PostgreSQL 15), builds into BUILD_DIR (build; NO_BUILD=1
# skips both) and runs failover.py, which writes bench/failover/results.md (RESULTS).
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh
build_dir=${BUILD_DIR:-build}
if [[ "${NO_BUILD:-}" != 1 ]]; then
    scripts/install-deps.sh --test
    BUILD_DIR="$build_dir" scripts/build.sh >/dev/null
fi
bench_run python3 bench/failover/failover.py --build "$build_dir" --kills "${KILLS:-20}" \
    --results "${RESULTS:-bench/failover/results.md}"
