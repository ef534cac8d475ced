#!/usr/bin/env bash
# bench/swarm: groupshare against aria2c and libtorrent on one loopback swarm (4 seeders, 1 GiB,
# 512 KiB pieces). Installs what is missing with apt-get (as root), builds groupshare, runs
# bench/swarm/swarm.py and writes bench/swarm/results.md. See bench/README.md, section "swarm".
#
# Environment: SWARM_MIB (1024), SWARM_RUNS (3), SWARM_SEEDERS (4),
#   SWARM_ENGINES (groupshare,groupshare-plain,aria2c,libtorrent; groupshare is the sealed
#   channel, groupshare-plain the same downloader with --plain-peer-wire),
#   SWARM_TIMEOUT (seconds per download),
#   BUILD_DIR (build), SWARM_NO_BUILD=1 (use what BUILD_DIR holds),
#   TMPDIR (where the file and the copies go).
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh

bench_install time aria2 opentracker python3-libtorrent
# python3-libtorrent may be installed and still not import (it is built for Debian's python3).
if ! /usr/bin/python3 -c 'import libtorrent' 2>/dev/null; then
    echo "swarm: /usr/bin/python3 cannot import libtorrent (python3-libtorrent is installed)" >&2
    exit 1
fi
scripts/install-deps.sh  # build dependencies, only those missing
[[ -n "${SWARM_NO_BUILD:-}" ]] || BUILD_DIR="${BUILD_DIR:-build}" scripts/build.sh

# opentracker refuses to run as root: as root, run it as the packaged _opentracker user (created
# here if the package did not).
ot_user=_opentracker
if [[ $(id -u) -eq 0 ]] && ! id -u "$ot_user" >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$ot_user"
fi

bench_run /usr/bin/python3 bench/swarm/swarm.py \
    --mib "${SWARM_MIB:-1024}" --runs "${SWARM_RUNS:-3}" --seeders "${SWARM_SEEDERS:-4}" \
    --engines "${SWARM_ENGINES:-groupshare,groupshare-plain,aria2c,libtorrent}" \
    --timeout "${SWARM_TIMEOUT:-0}" --build "${BUILD_DIR:-build}" --ot-user "$ot_user"
