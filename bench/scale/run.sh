#!/usr/bin/env bash
# bench/scale: download time vs file size (64 MiB .. 4 GiB, 4 seeders) and vs seeders (1, 2, 4, 8,
# 1 GiB), with the downloader's CPU and peak memory; writes bench/scale/results.md and scale.png.
#
#   bench/scale/run.sh            (root or sudo on Debian 12; a full run needs ~10 GiB free in
#                                  SCALE_TMPDIR, default /var/tmp, and takes a few minutes)
#
# Installs what is missing with apt-get (the build dependencies via scripts/install-deps.sh,
# gnuplot-nox, time), builds with scripts/build.sh (BUILD_DIR, default build/; SCALE_NO_BUILD=1
# uses the binaries already there), then runs bench/scale/scale.py under Debian's /usr/bin/python3.
# Knobs (SCALE_SIZES, SCALE_SEEDERS, SCALE_RUNS, ...) are described at the top of scale.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh

scripts/install-deps.sh
# A plotter: gnuplot (any flavour) or else gnuplot-nox.
plotter=()
command -v gnuplot >/dev/null || plotter=(gnuplot-nox)
bench_install time python3 "${plotter[@]}"

build_dir="${BUILD_DIR:-build}"
if [[ "${SCALE_NO_BUILD:-0}" != "1" ]]; then
    BUILD_DIR="$build_dir" scripts/build.sh
fi

exec /usr/bin/python3 bench/scale/scale.py --build "$build_dir"
