#!/usr/bin/env bash
# Runs groupshare under AddressSanitizer + UndefinedBehaviorSanitizer, and fuzzes it:
#  1. the whole test suite (unit and end-to-end) in a sanitized build, build-asan/;
#  2. the libFuzzer targets of tests/fuzz/ in a sanitized clang build, build-fuzz/: each replays
#     its seed corpus (and saved reproducers in tests/fuzz/crashes/), then fuzzes for FUZZ_SECONDS
#     from a scratch copy of that corpus, and its executions are printed.
# Installs what is missing first. Exits non-zero on any test failure, sanitizer report or fuzzer
# crash; a crashing input is kept under $FUZZ_WORK/artifacts/<target>/ (add it to
# tests/fuzz/crashes/<target>/ so the replay step keeps checking it).
#
# Why two builds: the suite is built with g++ because clang 14 (Debian 12) cannot compile the e2e
# harness — its std::source_location needs __builtin_source_location, which only clang 15 has.
# libFuzzer needs clang, so the fuzz targets (and the code they test) are built with clang.
#
# Environment: FUZZ_SECONDS per target (default 60; 0 skips fuzzing), FUZZ_TARGETS (default: all
# five), FUZZ_MAX_LEN (default 65536), FUZZ_WORK (default: a fresh temporary directory, removed
# when all passed), TIMEOUT_MULTIPLIER for meson test (default 3: the e2e tests drive sanitized
# binaries), ASAN_BUILD_DIR / FUZZ_BUILD_DIR (default build-asan / build-fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."

asan_dir="${ASAN_BUILD_DIR:-build-asan}"
fuzz_dir="${FUZZ_BUILD_DIR:-build-fuzz}"
fuzz_seconds="${FUZZ_SECONDS:-60}"
read -r -a fuzz_targets <<<"${FUZZ_TARGETS:-bencode frame dispatch wire seal}"
fuzz_max_len="${FUZZ_MAX_LEN:-65536}"
timeout_multiplier="${TIMEOUT_MULTIPLIER:-3}"
sanitize=(-Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true)

# ---- packages: the project's own, plus clang and its runtimes (libFuzzer, sanitizers) ----
scripts/install-deps.sh --test --sanitize

# halt_on_error: a UBSan report fails the run instead of scrolling past.
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export ASAN_OPTIONS="detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"

start=$SECONDS
phase() { echo "== sanitize.sh: $* (at $((SECONDS - start)) s)"; }

# configure DIR COMPILER OPTIONS...: sets up DIR with CC/CXX, or updates its options.
configure() {
    local dir=$1 cc=$2 cxx=$3
    shift 3
    if [[ -f "$dir/build.ninja" ]] && ! grep -q "^ command = $cxx " "$dir/build.ninja"; then
        echo "$dir was configured with another compiler than $cxx; remove it and run again" >&2
        exit 1
    fi
    local log
    log=$(mktemp)
    if [[ -f "$dir/build.ninja" ]]; then
        meson configure "$dir" "$@" >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
    else
        CC=$cc CXX=$cxx meson setup "$dir" "$@" >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
    fi
    rm -f "$log"
}

# ---- 1. the whole test suite under the sanitizers ----
phase "building $asan_dir (g++, address + undefined)"
configure "$asan_dir" gcc g++ "${sanitize[@]}"
meson compile -C "$asan_dir"
phase "running the test suite in $asan_dir"
meson test -C "$asan_dir" --print-errorlogs --timeout-multiplier "$timeout_multiplier"

# ---- 2. fuzzing ----
phase "building the fuzz targets in $fuzz_dir (clang, address + undefined + libFuzzer)"
configure "$fuzz_dir" clang clang++ "${sanitize[@]}" -Dfuzz=true
# Only the fuzz targets: the rest of the tree is built and tested in step 1.
executables=()
replay=()
for t in "${fuzz_targets[@]}"; do
    executables+=("tests/fuzz/${t}_fuzz")
    replay+=("${t}_fuzz_corpus")
done
meson compile -C "$fuzz_dir" "${executables[@]}"
phase "replaying the seed corpus and saved reproducers"
meson test -C "$fuzz_dir" --no-rebuild --print-errorlogs "${replay[@]}"

if [[ "$fuzz_seconds" -gt 0 ]]; then
    work="${FUZZ_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/gs-fuzz-XXXXXX")}"
    mkdir -p "$work"
    summary=()
    failed=()
    for t in "${fuzz_targets[@]}"; do
        exe="$fuzz_dir/tests/fuzz/${t}_fuzz"
        corpus="$work/corpus/$t"
        artifacts="$work/artifacts/$t"
        rm -rf "$corpus" "$artifacts"
        mkdir -p "$corpus" "$artifacts"
        cp tests/fuzz/corpus/"$t"/* "$corpus"/
        phase "fuzzing $t for $fuzz_seconds s"
        log="$work/$t.log"
        rc=0
        # One process per target (no -jobs/-workers): CI has two cores.
        "$exe" -max_total_time="$fuzz_seconds" -max_len="$fuzz_max_len" -timeout=25 \
            -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/" \
            "$corpus" >"$log" 2>&1 || rc=$?
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
        units=$(find "$corpus" -type f | wc -l)
        summary+=("$(printf '%-9s %10s executions  %6s/s  coverage %5s  corpus %5s  exit %s' \
            "$t" "${execs:-?}" "${speed:-?}" "${cov:-?}" "$units" "$rc")")
        if [[ $rc -ne 0 ]]; then
            failed+=("$t")
            echo "---- $t failed (exit $rc); the end of $log:" >&2
            tail -n 80 "$log" >&2
            ls -l "$artifacts" >&2 || true
        fi
    done
    phase "fuzzing done"
    echo "fuzzing, $fuzz_seconds s per target:"
    printf '  %s\n' "${summary[@]}"
    if [[ ${#failed[@]} -gt 0 ]]; then
        echo "fuzzing failed: ${failed[*]} (logs and inputs under $work)" >&2
        exit 1
    fi
    if [[ -z "${FUZZ_WORK:-}" ]]; then rm -rf "$work"; fi
fi
phase "all passed"
