#!/usr/bin/env bash
# Issue #4, benchmark 3: the groupshare tracker under a flood of get_peers requests, next to
# Debian's opentracker answering HTTP announces under wrk, at the same concurrency, in one run.
#
#   bench/tracker/run.sh            (as root on Debian 12; installs what is missing)
#
# Environment: CONNECTIONS ("64 1024"), DURATION (10 s), WARMUP (2 s), SEEDERS (4 online peers
# in every reply), FILE_MIB (1024: the info dictionary get_file returns is that of a 1 GiB file in
# 512 KiB pieces, as in bench/swarm), BUILD_DIR (build), RESULTS (bench/tracker/results.md).
# ENGINES ("sqlite opentracker"), run side by side in that order, ROUNDS (1) times over:
#   sqlite       one tracker on a fresh SQLite file (the default database), once per BUILD_DIRS entry
#   pg1          one tracker on a fresh database in a throwaway PostgreSQL cluster
#                (scripts/pg-cluster.sh, in the work directory; 4 store threads, the default)
#   pg2          two trackers on one fresh database of that cluster; two load generators at once,
#                one per tracker, each with half the connections (summed req/s, the worse p99)
#   opentracker  Debian's opentracker under wrk
# BUILD_DIRS (BUILD_DIR): the builds whose tracker the sqlite engine runs, alternating, e.g.
# "build /tmp/base/build" for this tree against an older one; pg1/pg2 and the load generator use
# the first. NO_BUILD=1 skips the package installs and the build.
# Each engine gets a fresh process (and our tracker a fresh database) per row.
# Prints a markdown table and writes it, with the machine it came from, to $RESULTS.
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh
repo=$(pwd)

connections_list=${CONNECTIONS:-"64 1024"}
duration=${DURATION:-10}
warmup=${WARMUP:-2}
# At most 4: the tracker keeps 4 addresses per user per file (since 4a2b7ff), and the
# scenario's seeders are one user.
seeders=${SEEDERS:-4}
file_mib=${FILE_MIB:-1024}
build_dir=${BUILD_DIR:-build}
build_dirs=${BUILD_DIRS:-$build_dir}
engines=${ENGINES:-"sqlite opentracker"}
rounds=${ROUNDS:-1}
results=${RESULTS:-bench/tracker/results.md}
ot_user=_opentracker  # Debian's opentracker package creates it; we create it when missing

say() { printf '%s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

for e in $engines; do
    [[ $e =~ ^(sqlite|pg1|pg2|opentracker)$ ]] || die "unknown engine '$e' (sqlite pg1 pg2 opentracker)"
done
wants() { [[ " $engines " == *" $1 "* ]]; }
wants_pg() { wants pg1 || wants pg2; }

# --- packages and build -----------------------------------------------------------------------
sudo=""
[[ $(id -u) -ne 0 ]] && sudo="sudo"
if [[ "${NO_BUILD:-}" != 1 ]]; then
    bench_install util-linux
    if wants opentracker; then bench_install opentracker wrk; fi
    if wants_pg; then scripts/install-deps.sh --test; else scripts/install-deps.sh; fi
    BUILD_DIR="${build_dirs%% *}" scripts/build.sh >/dev/null
fi
if wants opentracker && ! id -u "$ot_user" >/dev/null 2>&1; then
    # opentracker must not run as root (it would drop to "nobody" by itself; we choose the user).
    $sudo useradd --system --no-create-home --shell /usr/sbin/nologin "$ot_user"
fi
abs_dirs=()
for d in $build_dirs; do abs_dirs+=("$(realpath "$d")"); done
loadgen_bin="${abs_dirs[0]}/bench/tracker/tracker_loadgen"
for d in "${abs_dirs[@]}"; do
    [[ -x "$d/tracker/tracker" ]] || die "$d/tracker/tracker is missing"
done
[[ -x "$loadgen_bin" ]] || die "$loadgen_bin is missing"
# A build as the table names it: its directory and the revision it was built from.
build_name() {
    local src rev
    src=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["directories"]["source"])' \
              "$1/meson-info/meson-info.json" 2>/dev/null || echo "$1/..")
    rev=$(git -C "$src" rev-parse --short HEAD 2>/dev/null || cat "$src/.revision" 2>/dev/null || echo "?")
    echo "${1#"$repo/"} ($rev)"
}

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
    forget "$1"
}
# Takes a pid off the list (a process that has exited and been waited for).
forget() {
    local left=() p
    for p in "${pids[@]}"; do [[ "$p" == "$1" ]] || left+=("$p"); done
    pids=("${left[@]}")
}
pg_dir="$work/pg"
pg_uri=""
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [[ -n "$pg_uri" ]]; then scripts/pg-cluster.sh stop "$pg_dir" --discard || true; fi
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
# Starts tracker number $3 of the tracker_info file $2 from the binary $1 with the extra options
# "${@:4}" (the database), stdout in $2.out.$3, stderr in $2.log.$3; sets started_pid,
# started_addr and started_tls (the --tls option for the load generator, empty for plain frames).
start_tracker() {
    local bin=$1 info=$2 number=$3
    shift 3
    "$bin" "$info" "$number" "$@" </dev/null >"$info.out.$number" 2>"$info.log.$number" &
    started_pid=$!
    pids+=("$started_pid")
    wait_for_line "$info.out.$number" 'listening on [0-9.]+:[0-9]+' 60 "$started_pid"
    started_addr=$(sed -n 's/.*listening on \([0-9.]*:[0-9]*\).*/\1/p' "$info.out.$number")
    # A tracker that prints a certificate fingerprint speaks TLS 1.3 (docs/protocol.md §1.4).
    local fingerprint
    fingerprint=$(grep -o 'sha256:[0-9a-f]\{64\}' "$info.out.$number" | head -1 || true)
    started_tls=""
    link="plain frames"
    if [[ -n "$fingerprint" ]]; then
        started_tls="--tls $fingerprint"
        link="TLS 1.3"
    fi
}

# CPU seconds (user+sys) of the PostgreSQL server: the postmaster and every process it forked
# (one backend per store connection). 0 without a cluster.
pg_cpu_ticks() {
    local pm
    pm=$(head -1 "$pg_dir/data/postmaster.pid" 2>/dev/null) || { echo 0; return; }
    # A process can exit between the glob and its read: cat then fails, which is fine.
    { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v pm="$pm" '
        { pid = $1; sub(/^.*\) /, ""); if (pid == pm || $2 == pm) t += $12 + $13 }
        END { print t + 0 }'
}

# A fresh database in the throwaway cluster for one row; prints its URI.
pg_database() {
    local name=$1
    psql -X -q -d "$pg_uri" -c "CREATE DATABASE $name" >/dev/null || die "cannot create database $name"
    echo "${pg_uri%/*}/$name"
}

# The load generator against one tracker; its output in $1.
loadgen() {
    local out=$1 addr=$2 tls=$3 n=$4 pid=$5 go=$6
    # shellcheck disable=SC2086  # $tls is "--tls sha256:..." or empty
    "$loadgen_bin" --tracker "$addr" $tls --connections "$n" --duration "$duration" \
        --warmup "$warmup" --seeders "$seeders" --file-mib "$file_mib" --tracker-pid "$pid" \
        --go-file "$go" >"$out" 2>&1
}

# One row: `trackers` trackers of engine `kind` (sqlite or pg) from build `bdir`, `n` connections
# split evenly between them, one load generator per tracker, all at once. Summed req/s, the
# worst of the percentiles, the trackers' CPU summed (and PostgreSQL's), RSS per tracker.
run_groupshare() {
    local label=$1 kind=$2 trackers=$3 bdir=$4 n=$5
    local dir="$work/row-$((++row_number))"
    mkdir -p "$dir"
    local bin="$bdir/tracker/tracker"
    [[ -x "$bin" ]] || die "$bin is missing (build $bdir first)"
    local info="$dir/tracker_info.txt" i
    : >"$info"
    for ((i = 1; i <= trackers; i++)); do echo "127.0.0.1:0" >>"$info"; done
    local db_args=() uri=""
    if [[ $kind == pg ]]; then uri=$(pg_database "bench_row_$row_number"); fi
    local tpids=() taddrs=() ttls=()
    for ((i = 1; i <= trackers; i++)); do
        if [[ $kind == pg ]]; then
            mkdir -p "$dir/state-$i"
            db_args=(--db "$uri" --state-dir "$dir/state-$i")
        else
            db_args=(--db "$dir/tracker.db")
        fi
        start_tracker "$bin" "$info" "$i" "${db_args[@]}"
        tpids+=("$started_pid")
        taddrs+=("$started_addr")
        ttls+=("$started_tls")
    done
    local share=$(( n / trackers ))
    say "== $label, build $bdir (pids ${tpids[*]}, ${taddrs[*]}, $link), $n connections"
    local pg0 gens=()
    for ((i = 0; i < trackers; i++)); do
        local c=$share
        (( i == trackers - 1 )) && c=$(( n - share * (trackers - 1) ))
        loadgen "$dir/loadgen-$i.txt" "${taddrs[$i]}" "${ttls[$i]}" "$c" "${tpids[$i]}" "$dir/go" &
        gens+=($!)
        pids+=($!)
    done
    # Every generator set up (logins, connections resumed), then all start their load at once.
    for ((i = 0; i < trackers; i++)); do
        wait_for_line "$dir/loadgen-$i.txt" '^set up in' 300 "${gens[$i]}"
    done
    pg0=$(pg_cpu_ticks)
    local t0=$EPOCHREALTIME
    touch "$dir/go"
    local rc=0 g
    for g in "${gens[@]}"; do
        wait "$g" || rc=$?
        forget "$g"
    done
    local t1=$EPOCHREALTIME pg1
    pg1=$(pg_cpu_ticks)
    for ((i = 0; i < trackers; i++)); do say "$(cat "$dir/loadgen-$i.txt")"; stop "${tpids[$i]}"; done
    (( rc == 0 )) || say "warning: a load generator reported errors (exit $rc)"
    local rps=0 p50=0 p99=0 p999=0 errors=0 rss="" hwm="" cpu=0 us_num=0 result
    for ((i = 0; i < trackers; i++)); do
        result=$(grep '^RESULT ' "$dir/loadgen-$i.txt") || die "load generator $i printed no result (exit $rc); see $dir"
        rps=$(( rps + $(field rps "$result") ))
        p50=$(awk -v a="$p50" -v b="$(field p50_ms "$result")" 'BEGIN { print (b > a ? b : a) }')
        p99=$(awk -v a="$p99" -v b="$(field p99_ms "$result")" 'BEGIN { print (b > a ? b : a) }')
        p999=$(awk -v a="$p999" -v b="$(field p999_ms "$result")" 'BEGIN { print (b > a ? b : a) }')
        errors=$(( errors + $(field errors "$result") + $(field unanswered "$result") ))
        rss+="${rss:++}$(kib_to_mib "$(field rss_kib "$result")")"
        hwm+="${hwm:++}$(kib_to_mib "$(field hwm_kib "$result")")"
        cpu=$(( cpu + $(field tracker_cpu_pct "$result") ))
        reply_bytes=$(field reply_bytes "$result")
    done
    local us_per_request pg_cpu="-"
    us_per_request=$(awk -v c="$cpu" -v r="$rps" 'BEGIN { if (r > 0) printf "%.1f", c * 1e4 / r; else print "?" }')
    if [[ $kind == pg ]]; then
        pg_cpu=$(awk -v a="$pg0" -v b="$pg1" -v t="$(getconf CLK_TCK)" -v s="$t0" -v e="$t1" \
                     'BEGIN { printf "%.0f%%", 100 * (b - a) / t / (e - s) }')
    fi
    if [[ $kind == sqlite && $bdir == "${abs_dirs[0]}" ]]; then
        gs_rps[$n]=$rps
        gs_p99[$n]=$p99
    fi
    rows+=("$label ($link)|$(build_name "$bdir")|$n|$rps|$p50|$p99|$p999|$errors|$rss|$hwm|$cpu%|$us_per_request|$pg_cpu")
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
    rows+=("opentracker announce (wrk)|-|$n|$rps|$p50|$p99|-|$(( ${non2xx:-0} + ${timeouts:-0} ))|$(kib_to_mib "${rss:--1}")|$(kib_to_mib "${hwm:--1}")|$cpu%|$us_per_request|-")
}

if wants_pg; then
    pg_uri=$(scripts/pg-cluster.sh start "$pg_dir") || die "the PostgreSQL cluster did not start"
    pg_version=$(psql -X -At -d "$pg_uri" -c 'SHOW server_version')
    say "PostgreSQL $pg_version at $pg_uri"
fi

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
reply_bytes="?"
link="?"
row_number=0
for n in $connections_list; do
    for ((round = 1; round <= rounds; round++)); do
        for e in $engines; do
            case $e in
            sqlite) for d in "${abs_dirs[@]}"; do run_groupshare "groupshare SQLite" sqlite 1 "$d" "$n"; done ;;
            pg1) run_groupshare "groupshare PostgreSQL, 1 tracker" pg 1 "${abs_dirs[0]}" "$n" ;;
            pg2) run_groupshare "groupshare PostgreSQL, 2 trackers" pg 2 "${abs_dirs[0]}" "$n" ;;
            opentracker) run_opentracker "$n" ;;
            esac
        done
    done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report -----------------------------------------------------------------------------------
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
revision=$(git rev-parse --short HEAD 2>/dev/null || echo "?")
[[ -n "$(git status --porcelain 2>/dev/null)" ]] && revision+=" (working tree modified)"
{
    echo "# Tracker under load (issue #4, benchmark 3)"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores ($cpu_model), Linux $(uname -r)," \
         "load average before the run: $load_before; groupshare $revision."
    echo
    echo "Command: \`ENGINES=\"$engines\" BUILD_DIRS=\"$build_dirs\" CONNECTIONS=\"$connections_list\"" \
         "ROUNDS=$rounds DURATION=$duration WARMUP=$warmup bench/tracker/run.sh\`"
    echo
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
    echo "Several trackers (pg2): one load generator per tracker, started together, each with" \
         "half the connections; req/s summed, the worst p50/p99/p99.9 of the two, RSS and HWM per" \
         "tracker, tracker CPU summed (so up to 200% on 2 cores). PostgreSQL CPU: the postmaster" \
         "and its backends, % of one core, from the start of the warm-up to the end of the run" \
         "(every generator is set up first, then all start together). Everything (trackers, PostgreSQL, load generators) shares the machine's" \
         "$(nproc) cores. Load average after the run: $load_after."
    echo
    echo "| engine | build | connections | req/s | p50 ms | p99 ms | p99.9 ms | errors | RSS MiB | HWM MiB | tracker CPU | CPU us/req | PostgreSQL CPU |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for r in "${rows[@]}"; do echo "| ${r//|/ | } |"; done
    if (( rounds > 1 )); then
        echo
        echo "Median over the $rounds rounds (min–max of req/s):"
        echo
        printf '%s\n' "${rows[@]}" | python3 -c '
import statistics, sys
groups = {}
for line in sys.stdin:
    f = line.rstrip("\n").split("|")
    groups.setdefault((f[0], f[1], f[2]), []).append(f)
print("| engine | build | connections | req/s (min–max) | p99 ms | tracker CPU | CPU us/req |")
print("|---|---|---:|---:|---:|---:|---:|")
num = lambda x: float(x.rstrip("%")) if x not in ("?", "-", "") else float("nan")
for (engine, build, n), fs in groups.items():
    rps = [num(f[3]) for f in fs]
    med = lambda i: statistics.median(num(f[i]) for f in fs)
    print(f"| {engine} | {build} | {n} | {statistics.median(rps):.0f} ({min(rps):.0f}–{max(rps):.0f})"
          f" | {med(5):.3f} | {med(10):.0f}% | {med(11):.1f} |")
'
    fi
    echo
    for n in $connections_list; do
        ratio=$(awk -v a="${gs_rps[$n]:-0}" -v b="${ot_rps[$n]:-0}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "?" }')
        verdict=$(awk -v r="$ratio" 'BEGIN { print (r + 0 >= 3 ? "meets" : "misses") }')
        wants opentracker && wants sqlite || continue
        line="- $n connections: groupshare SQLite / opentracker = **${ratio}x** ($verdict the 3x target)"
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
