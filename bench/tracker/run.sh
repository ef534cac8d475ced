#!/usr/bin/env bash
# Issue #4, benchmark 3: the groupshare tracker under a flood of get_peers requests, next to
# Debian's opentracker answering HTTP announces under wrk, at the same concurrency, in one run.
#
#   bench/tracker/run.sh            (as root on Debian 12; installs what is missing)
#
# Environment: CONNECTIONS ("64 1024"), DURATION (10 s), WARMUP (2 s), SEEDERS (8 online peers
# in every reply), FILE_MIB (1024: the info dictionary get_file returns is that of a 1 GiB file in
# 512 KiB pieces, as in bench/swarm), BUILD_DIR (build), RESULTS (bench/tracker/results.md).
# Each engine gets a fresh process (and our tracker a fresh database) per concurrency level.
# Prints a markdown table and writes it, with the machine it came from, to $RESULTS.
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh
repo=$(pwd)

connections_list=${CONNECTIONS:-"64 1024"}
duration=${DURATION:-10}
warmup=${WARMUP:-2}
seeders=${SEEDERS:-8}
file_mib=${FILE_MIB:-1024}
build_dir=${BUILD_DIR:-build}
results=${RESULTS:-bench/tracker/results.md}
ot_user=_opentracker  # Debian's opentracker package creates it; we create it when missing

say() { printf '%s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# --- packages and build -----------------------------------------------------------------------
sudo=""
[[ $(id -u) -ne 0 ]] && sudo="sudo"
bench_install opentracker wrk util-linux
# opentracker must not run as root (it would drop to "nobody" by itself; we choose the user).
if ! id -u "$ot_user" >/dev/null 2>&1; then
    $sudo useradd --system --no-create-home --shell /usr/sbin/nologin "$ot_user"
fi
scripts/install-deps.sh
BUILD_DIR="$build_dir" scripts/build.sh >/dev/null
tracker_bin="$repo/$build_dir/tracker/tracker"
loadgen_bin="$repo/$build_dir/bench/tracker/tracker_loadgen"
[[ -x "$tracker_bin" && -x "$loadgen_bin" ]] || die "the build did not produce $tracker_bin and $loadgen_bin"

# Every connection is a descriptor on both sides (1,024 connections > the usual soft limit).
hard=$(ulimit -Hn)
if [[ "$hard" == unlimited || "$hard" -ge 65536 ]]; then ulimit -n 65536; else ulimit -n "$hard"; fi
max_conns=0
for n in $connections_list; do
    if (( n > max_conns )); then max_conns=$n; fi
done
(( $(ulimit -n) >= max_conns + 64 )) || die "the descriptor limit $(ulimit -n) is too low for $max_conns connections"

# --- bookkeeping: everything we start is killed by pid, the temp dir removed ---------------------
work=$(mktemp -d /tmp/gs-bench-tracker.XXXXXX)
chmod 755 "$work"  # opentracker's user reads its whitelist from here
pids=()  # started and not yet stopped
stop() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    local left=() p
    for p in "${pids[@]}"; do [[ "$p" == "$1" ]] || left+=("$p"); done
    pids=("${left[@]}")
}
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Polls until `file` has a line matching `pattern`, or fails after `secs` seconds.
wait_for_line() {
    local file=$1 pattern=$2 secs=$3 pid=$4
    local deadline=$(( $(date +%s) + secs ))
    until grep -qE "$pattern" "$file" 2>/dev/null; do
        kill -0 "$pid" 2>/dev/null || { cat "$file" >&2; die "process $pid exited before printing /$pattern/"; }
        (( $(date +%s) < deadline )) || die "no line matching /$pattern/ in $file after $secs s"
        sleep 0.05
    done
}

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
kib_to_mib() { awk -v k="$1" 'BEGIN { if (k < 0) print "?"; else printf "%.1f", k / 1024 }'; }

# Keeps the rows of the table: engine|connections|rps|p50|p99|p999|errors|rss|hwm|cpu|cpu_us_per_req
rows=()
declare -A gs_rps gs_p99 ot_rps

# --- groupshare -----------------------------------------------------------------------------
run_groupshare() {
    local n=$1
    local dir="$work/gs-$n"
    mkdir -p "$dir"
    echo "127.0.0.1:0" >"$dir/own.txt"
    "$tracker_bin" "$dir/own.txt" 1 --db "$dir/tracker.db" </dev/null >"$dir/out.txt" 2>"$dir/tracker.log" &
    local pid=$!
    pids+=("$pid")
    wait_for_line "$dir/out.txt" 'listening on [0-9.]+:[0-9]+' 30 "$pid"
    local addr fingerprint tls=()
    addr=$(sed -n 's/.*listening on \([0-9.]*:[0-9]*\).*/\1/p' "$dir/out.txt")
    # A tracker that prints a certificate fingerprint speaks TLS 1.3 (docs/protocol.md §1.4).
    fingerprint=$(grep -o 'sha256:[0-9a-f]\{64\}' "$dir/out.txt" | head -1 || true)
    [[ -n "$fingerprint" ]] && tls=(--tls "$fingerprint")
    link="plain frames"
    [[ -n "$fingerprint" ]] && link="TLS 1.3"
    say "== groupshare tracker (pid $pid, $addr, $link), $n connections"
    local out rc=0
    out=$("$loadgen_bin" --tracker "$addr" "${tls[@]}" --connections "$n" --duration "$duration" \
          --warmup "$warmup" --seeders "$seeders" --file-mib "$file_mib" --tracker-pid "$pid") || rc=$?
    say "$out"
    stop "$pid"
    local result
    result=$(grep '^RESULT ' <<<"$out") || die "the load generator printed no result (exit $rc)"
    (( rc == 0 )) || say "warning: the load generator reported errors (exit $rc)"
    gs_rps[$n]=$(field rps "$result")
    gs_p99[$n]=$(field p99_ms "$result")
    reply_bytes=$(field reply_bytes "$result")
    local errors=$(( $(field errors "$result") + $(field unanswered "$result") ))
    rows+=("groupshare get_peers ($link)|$n|${gs_rps[$n]}|$(field p50_ms "$result")|${gs_p99[$n]}|$(field p999_ms "$result")|$errors|$(kib_to_mib "$(field rss_kib "$result")")|$(kib_to_mib "$(field hwm_kib "$result")")|$(field tracker_cpu_pct "$result")%|$(field tracker_us_per_request "$result")")
}

# --- opentracker + wrk ------------------------------------------------------------------------
# 20 bytes, URL-encoded byte by byte (BEP 3: info_hash and peer_id are raw bytes in the query).
url_bytes() { printf '%s' "$1" | od -An -tx1 -v | tr -d ' \n' | sed 's/\(..\)/%\1/g'; }
info_hash_hex=$(printf 'groupshare tracker bench' | sha1sum | cut -c1-40)
info_hash_url=$(printf '%s' "$info_hash_hex" | sed 's/\(..\)/%\1/g')

# One HTTP GET over bash's /dev/tcp, in a subshell; prints the body.
http_get() (
    exec 3<>"/dev/tcp/127.0.0.1/$1"
    printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
    sed '1,/^\r$/d' <&3
)

announce_path() {  # peer_id port
    echo "/announce?info_hash=$info_hash_url&peer_id=$(url_bytes "$1")&port=$2&left=0&compact=1"
}

# wrk prints latencies as 812.00us, 1.23ms or 1.02s.
to_ms() {
    awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n;
                           else if (v ~ /s$/) n *= 1000; printf "%.3f", n }'
}

start_opentracker() {
    local dir=$1 port
    echo "$info_hash_hex" >"$dir/whitelist.txt"
    chmod 755 "$dir" && chmod 644 "$dir/whitelist.txt"
    for _ in 1 2 3 4 5; do
        port=$(( 20000 + RANDOM % 40000 ))
        setpriv --reuid="$ot_user" --regid="$(id -g "$ot_user")" --clear-groups \
            opentracker -i 127.0.0.1 -p "$port" -P "$port" -w "$dir/whitelist.txt" \
            </dev/null >"$dir/opentracker.log" 2>&1 &
        ot_pid=$!
        pids+=("$ot_pid")
        # Up when a whitelisted announce gets a peer list back (its own entry at least).
        for _ in $(seq 100); do
            kill -0 "$ot_pid" 2>/dev/null || break
            if http_get "$port" "$(announce_path "-GS0000-probe0000000" 1)" 2>/dev/null | grep -q 'peers'; then
                ot_port=$port
                return 0
            fi
            sleep 0.05
        done
        stop "$ot_pid"
    done
    cat "$dir/opentracker.log" >&2
    die "opentracker did not start"
}

run_opentracker() {
    local n=$1
    local dir="$work/ot-$n"
    mkdir -p "$dir"
    start_opentracker "$dir"
    local pid=$ot_pid port=$ot_port
    # The same swarm shape as ours: $seeders seeding peers, so each reply lists them.
    for i in $(seq "$seeders"); do
        http_get "$port" "$(announce_path "$(printf -- '-GS0000-seed%08d' "$i")" $(( 41000 + i )))" >/dev/null
    done
    say "== opentracker (pid $pid, 127.0.0.1:$port), $n connections"
    local url
    url="http://127.0.0.1:$port$(announce_path "-GS0000-downloader00" 6881)"
    local threads=2
    (( n < threads )) && threads=$n
    wrk -t "$threads" -c "$n" -d "${warmup}s" "$url" >/dev/null 2>&1 || true
    # Memory is sampled just before the end of the measured run, while the connections are held.
    ( sleep "$(awk -v d="$duration" 'BEGIN { print (d > 1 ? d - 0.5 : d / 2) }')"
      grep -E '^(VmRSS|VmHWM):' "/proc/$pid/status" >"$dir/mem.txt" 2>/dev/null || true
      awk '{ print $14 + $15 }' "/proc/$pid/stat" >"$dir/cpu_end.txt" 2>/dev/null || true ) &
    local sampler=$!
    local cpu_start
    cpu_start=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
    local out
    out=$(wrk -t "$threads" -c "$n" -d "${duration}s" --latency "$url" 2>&1) || die "wrk failed: $out"
    wait "$sampler" || true
    say "$out"
    stop "$pid"
    local rps p50 p99 rss hwm cpu non2xx
    rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")
    p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
    p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
    rss=$(awk '/^VmRSS:/ { print $2 }' "$dir/mem.txt")
    hwm=$(awk '/^VmHWM:/ { print $2 }' "$dir/mem.txt")
    cpu=$(awk -v a="$cpu_start" -v b="$(cat "$dir/cpu_end.txt")" -v t="$(getconf CLK_TCK)" \
              -v d="$duration" 'BEGIN { printf "%.0f", 100 * (b - a) / t / (d > 1 ? d - 0.5 : d / 2) }')
    local us_per_request
    us_per_request=$(awk -v c="$cpu" -v r="$rps" 'BEGIN { if (r > 0) printf "%.1f", c * 1e4 / r; else print "?" }')
    # wrk counts opentracker closing each connection after its reply (HTTP/1.0 style) as a
    # "read" socket error; those requests were answered. Count only non-2xx and timeouts.
    non2xx=$(awk '/Non-2xx/ { print $NF }' <<<"$out")
    local timeouts
    timeouts=$(sed -n 's/.*timeout \([0-9]*\).*/\1/p' <<<"$out")
    ot_rps[$n]=$rps
    rows+=("opentracker announce (wrk)|$n|$rps|$p50|$p99|-|$(( ${non2xx:-0} + ${timeouts:-0} ))|$(kib_to_mib "${rss:--1}")|$(kib_to_mib "${hwm:--1}")|$cpu%|$us_per_request")
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
reply_bytes="?"
link="?"
for n in $connections_list; do
    run_groupshare "$n"
    run_opentracker "$n"
done

# --- report -----------------------------------------------------------------------------------
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
revision=$(git rev-parse --short HEAD 2>/dev/null || echo "?")
[[ -n "$(git status --porcelain 2>/dev/null)" ]] && revision+=" (working tree modified)"
{
    echo "# Tracker under load (issue #4, benchmark 3)"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores ($cpu_model), Linux $(uname -r)," \
         "load average before the run: $load_before; groupshare $revision."
    echo "Each row: ${duration} s measured after ${warmup} s of warm-up, closed loop (one request in" \
         "flight per connection). groupshare: \`bench/tracker/tracker_loadgen\`, \`get_peers\` of a" \
         "${file_mib} MiB file with ${seeders} online seeders (${reply_bytes}-byte reply frame, over" \
         "${link})." \
         "opentracker: Debian's, \`wrk -t 2 --latency\` on a whitelisted \`/announce\`" \
         "(compact, ${seeders} seeders + the announcer in the swarm; a new TCP connection per" \
         "request, as opentracker closes after each reply). RSS: VmRSS near the end of the" \
         "window with all connections held; HWM: VmHWM (peak, includes groupshare's argon2id" \
         "logins at set-up). CPU: the tracker process, % of one core, during the window; CPU us/req:" \
         "that CPU time divided by the requests answered, which depends much less than req/s on" \
         "how much of a core the tracker got on a shared machine."
    echo
    echo "| engine | connections | req/s | p50 ms | p99 ms | p99.9 ms | errors | RSS MiB | HWM MiB | tracker CPU | CPU us/req |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for r in "${rows[@]}"; do echo "| ${r//|/ | } |"; done
    echo
    for n in $connections_list; do
        ratio=$(awk -v a="${gs_rps[$n]:-0}" -v b="${ot_rps[$n]:-0}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "?" }')
        verdict=$(awk -v r="$ratio" 'BEGIN { print (r + 0 >= 3 ? "meets" : "misses") }')
        line="- $n connections: groupshare / opentracker = **${ratio}x** ($verdict the 3x target)"
        if (( n == 1024 )); then
            p99_ok=$(awk -v p="${gs_p99[$n]}" 'BEGIN { print (p + 0 < 5 ? "meets" : "misses") }')
            line+="; groupshare p99 ${gs_p99[$n]} ms ($p99_ok the < 5 ms target)"
        fi
        echo "$line"
    done
} >"$work/table.md"
cat "$work/table.md"
cp "$work/table.md" "$results"
say "written to $results"
