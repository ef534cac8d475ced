#!/usr/bin/env bash
# Configures (once) and builds groupshare into build/ (or $BUILD_DIR). In CI (CI=true) warnings
# are errors.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${BUILD_DIR:-build}"
werror=false
[[ "${CI:-}" == "true" ]] && werror=true
if [[ ! -f "$build_dir/build.ninja" ]]; then
    meson setup "$build_dir" -Dwerror=$werror >/dev/null
else
    meson configure "$build_dir" -Dwerror=$werror >/dev/null
fi
meson compile -C "$build_dir"
