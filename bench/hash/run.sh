#!/usr/bin/env bash
# bench/hash: upload_file of a generated 1 GiB file (page cache warm) against sha1sum of it.
# Installs missing build dependencies (apt-get), builds groupshare, runs bench/hash/hash.py and
# writes bench/hash/results.md. See bench/README.md, section "hash".
#
# Environment: HASH_MIB (1024), HASH_RUNS (3), HASH_TIMEOUT (seconds per hashing),
#   BUILD_DIR (build), HASH_NO_BUILD=1 (use what BUILD_DIR holds), TMPDIR (where the file goes).
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh

scripts/install-deps.sh  # build dependencies (and python3), only those missing
[[ -n "${HASH_NO_BUILD:-}" ]] || BUILD_DIR="${BUILD_DIR:-build}" scripts/build.sh

python3=/usr/bin/python3
[[ -x $python3 ]] || python3=python3
bench_run "$python3" bench/hash/hash.py --mib "${HASH_MIB:-1024}" --runs "${HASH_RUNS:-3}" \
    --timeout "${HASH_TIMEOUT:-0}" --build "${BUILD_DIR:-build}"
