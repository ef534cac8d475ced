#!/usr/bin/env bash
# Builds groupshare and runs a live swarm on 127.0.0.1: a tracker and four clients. They create
# accounts and a group; three clients share a freshly generated file of DEMO_FILE_MIB MiB
# (default 300) and the fourth downloads it from all three at once, with progress, a byte-for-byte
# check and the throughput. Everything runs in a temporary directory that is removed at the end
# (DEMO_KEEP=1 keeps it). Every wait has a deadline: the demo never hangs, and exits non-zero with
# a message naming what did not appear.
#
#   scripts/demo.sh [--trackers N]     (or DEMO_TRACKERS=N)
#
# With N = 2 or 3, the same demo runs on N trackers that share a throwaway PostgreSQL cluster
# (scripts/pg-cluster.sh, in the work directory, stopped at the end whatever happens): every
# client lists them all in its tracker_info.txt, and in the middle of the download the tracker
# Dave uses is killed (SIGKILL); the clients that used it fail over to another by themselves and
# the download completes. Without it (N = 1, the default): one tracker on an SQLite file.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: scripts/demo.sh [--trackers 1|2|3]" >&2; exit 2; }
ntrackers="${DEMO_TRACKERS:-1}"
while [[ $# -gt 0 ]]; do
    case "$1" in
    --trackers) [[ $# -ge 2 ]] || usage; ntrackers=$2; shift 2 ;;
    --trackers=*) ntrackers=${1#--trackers=}; shift ;;
    -h | --help) usage ;;
    *) echo "demo: unknown argument '$1'" >&2; usage ;;
    esac
done
if [[ ! "$ntrackers" =~ ^[123]$ ]]; then
    echo "demo: the number of trackers must be 1, 2 or 3 (got '$ntrackers')" >&2
    exit 2
fi
file_mib="${DEMO_FILE_MIB:-300}"
if [[ ! "$file_mib" =~ ^[1-9][0-9]{0,5}$ ]]; then
    echo "demo: DEMO_FILE_MIB must be a whole number of MiB, 1 or more (got '$file_mib')" >&2
    exit 2
fi

if ((ntrackers > 1)); then
    scripts/install-deps.sh --test  # the PostgreSQL 15 server
else
    scripts/install-deps.sh
fi
if ! build_output="$(scripts/build.sh 2>&1)"; then
    printf '%s\n' "$build_output" >&2
    echo "demo: the build failed (output above)" >&2
    exit 1
fi
build="$(pwd)/${BUILD_DIR:-build}"
for bin in tracker/tracker peer/client; do
    [[ -x "$build/$bin" ]] || { echo "demo: $build/$bin is missing after the build" >&2; exit 1; }
done

work="$(mktemp -d "${TMPDIR:-/tmp}/groupshare-demo.XXXXXX")"
names=()         # processes started, in order
declare -A pid   # name -> process id
declare -A to    # name -> fd writing to its stdin
declare -A from  # name -> fd reading its stdout
pg_dir=""        # the PostgreSQL cluster's directory, once started

now() { date +%s.%N; }
# Seconds left until deadline $1 (at least 0.01), or status 1 if it has passed.
left() { awk -v d="$1" -v n="$(now)" 'BEGIN { r = d - n; if (r <= 0) exit 1; printf "%.3f\n", (r < 0.01 ? 0.01 : r) }'; }
after() { awk -v n="$(now)" -v s="$1" 'BEGIN { printf "%.3f\n", n + s }'; }

bold() { if [[ -t 1 ]]; then printf '\n\033[1m%s\033[0m\n' "$*"; else printf '\n== %s\n' "$*"; fi; }

# Prints why the demo stops, and the end of the log of the process concerned, then exits 1.
fail() {  # message [name]
    echo "demo: FAILED: $1" >&2
    if [[ -n "${2:-}" ]]; then
        if ! kill -0 "${pid[$2]}" 2>/dev/null; then echo "demo: ($2 is no longer running)" >&2; fi
        if [[ -s "$work/$2.log" ]]; then
            echo "demo: last lines of $2's log:" >&2
            tail -n 15 "$work/$2.log" | sed 's/^/    /' >&2
        fi
    fi
    exit 1
}

stop_leftovers() {
    local n p
    for n in "${names[@]}"; do
        p=${pid[$n]}
        if kill -0 "$p" 2>/dev/null; then kill -TERM "$p" 2>/dev/null || true; fi
    done
    for _ in {1..30}; do
        local alive=0
        for n in "${names[@]}"; do kill -0 "${pid[$n]}" 2>/dev/null && alive=1; done
        ((alive)) || break
        sleep 0.1
    done
    for n in "${names[@]}"; do kill -KILL "${pid[$n]}" 2>/dev/null || true; done
    wait 2>/dev/null || true
}

cleanup() {
    stop_leftovers
    if [[ -n "$pg_dir" ]]; then
        scripts/pg-cluster.sh stop "$pg_dir" --discard >/dev/null 2>&1 ||
            echo "demo: could not stop the PostgreSQL cluster in $pg_dir" >&2
    fi
    if [[ "${DEMO_KEEP:-}" == "1" ]]; then
        echo "(DEMO_KEEP=1: the work directory $work is kept)"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Starts a process whose stdin and stdout are FIFOs this script holds open (opening them
# read-write never blocks), so it can send commands and read answers with deadlines.
spawn() {  # name command...
    local name=$1; shift
    mkfifo "$work/$name.in" "$work/$name.out"
    (
        # Do not hold the other processes' pipes open.
        for n in "${names[@]}"; do eval "exec ${to[$n]}>&- ${from[$n]}<&-"; done
        exec "$@" <"$work/$name.in" >"$work/$name.out" 2>"$work/$name.log"
    ) &
    pid[$name]=$!
    names+=("$name")
    local fd_in fd_out
    exec {fd_in}<>"$work/$name.in" {fd_out}<>"$work/$name.out"
    to[$name]=$fd_in
    from[$name]=$fd_out
}

send() { printf '%s\n' "${*:2}" >&"${to[$1]}"; }
# Reads one line of the process's output into $line, waiting at most $2 seconds.
read_line() { line=""; IFS= read -r -t "$2" line <&"${from[$1]}"; }

# Sends one command and prints the `lines` lines it answers with.
run() {  # name lines command...
    local name=$1 lines=$2 i; shift 2
    echo "$name> $*"
    send "$name" "$*"
    for ((i = 0; i < lines; i++)); do
        read_line "$name" 20 || fail "$name did not answer '$*' within 20 s (got $i of $lines line(s))" "$name"
        echo "  $line"
    done
}

# Sends one command and prints what it answers until a line starting with `prefix`.
run_until() {  # name prefix seconds command...
    local name=$1 prefix=$2 deadline t; deadline=$(after "$3"); shift 3
    echo "$name> $*"
    send "$name" "$*"
    while true; do
        t=$(left "$deadline") || fail "$name printed no line starting '$prefix' within the deadline after '$*'" "$name"
        read_line "$name" "$t" || continue
        echo "  $line"
        [[ "$line" == "$prefix"* ]] && return 0
        [[ "$line" == error:* ]] && fail "$name answered '$*' with an error" "$name"
    done
}

# The tracker (TRACKER<i>) client $1 uses now, from the last `using tracker` line of its log.
tracker_of() {
    local addr t
    addr=$(sed -n 's/.*using tracker 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/$1.log" | tail -1)
    for t in "${trackers[@]}"; do
        [[ "${port_of[$t]}" == "$addr" ]] && { echo "$t"; return 0; }
    done
    return 1
}

# Reads client $1's output until its fail-over line (`tracker A lost; now using B`), at most $2 s.
await_failover() {
    local deadline t; deadline=$(after "$2")
    while t=$(left "$deadline"); do
        read_line "$1" "$t" || continue
        echo "  [$1] $line"
        [[ "$line" == "tracker "*" lost; now using "* ]] && return 0
    done
    fail "$1 printed no 'tracker ... lost; now using ...' line within $2 s" "$1"
}

clients=(ALICE BOB CAROL DAVE)
group=movies
fname="swarm-${file_mib}MiB.bin"
src="$work/files/$fname"
dest="$work/downloads/$fname"
size=$((file_mib * 1024 * 1024))
mkdir -p "$work/files" "$work/downloads"

trackers=()
for ((i = 1; i <= ntrackers; i++)); do trackers+=("TRACKER$i"); done
((ntrackers > 1)) || trackers=(TRACKER)
# Each tracker picks a free port (its line of tracker_seed.txt says port 0); clients get a
# tracker_info.txt naming the ports taken.
: > "$work/tracker_seed.txt"
for t in "${trackers[@]}"; do echo "127.0.0.1:0" >> "$work/tracker_seed.txt"; done
declare -A port_of  # tracker name -> its port
if ((ntrackers == 1)); then
    bold "A tracker and four clients start on 127.0.0.1 (work directory $work)"
    spawn TRACKER "$build/tracker/tracker" "$work/tracker_seed.txt" 1 --db "$work/tracker.db"
else
    bold "A PostgreSQL cluster, $ntrackers trackers sharing it and four clients start on 127.0.0.1 (work directory $work)"
    # The cluster belongs to the postgres user when we are root (initdb will not run as root):
    # it must be able to reach its directory inside ours (others may pass through, not list).
    chmod 0711 "$work"
    pg_dir="$work/pg"
    echo "\$ scripts/pg-cluster.sh start pg"
    db_uri=$(scripts/pg-cluster.sh start "$pg_dir") || fail "the PostgreSQL cluster did not start"
    echo "$db_uri"
    i=0
    for t in "${trackers[@]}"; do
        i=$((i + 1))
        mkdir -p "$work/$t"
        spawn "$t" "$build/tracker/tracker" "$work/tracker_seed.txt" "$i" --db "$db_uri" \
            --state-dir "$work/$t"
    done
fi
: > "$work/tracker_info.txt"
for t in "${trackers[@]}"; do
    read_line "$t" 10 || fail "$t did not print its 'listening on' line within 10 s" "$t"
    echo "$line"
    port="${line##*127.0.0.1:}"; port="${port%% *}"
    [[ "$port" =~ ^[0-9]+$ ]] || fail "no port in $t's first line: $line" "$t"
    port_of[$t]=$port
    echo "127.0.0.1:$port" >> "$work/tracker_info.txt"
done
if ((ntrackers > 1)); then
    echo "\$ cat tracker_info.txt"
    cat "$work/tracker_info.txt"
fi
for c in "${clients[@]}"; do
    spawn "$c" "$build/peer/client" 127.0.0.1:0 "$work/tracker_info.txt" --data-dir "$work/$c" --verbose
    read_line "$c" 10 || fail "client $c did not print its 'serving pieces on' line within 10 s" "$c"
    echo "[$c] $line"
done

bold "Accounts"
run ALICE 1 create_user alice s3cret-alice
run BOB 1 create_user bob s3cret-bob
run CAROL 1 create_user carol s3cret-carol
run DAVE 1 create_user dave s3cret-dave
run BOB 1 login bob wrong-password
for c in "${clients[@]}"; do
    u="${c,,}"
    run "$c" 1 login "$u" "s3cret-$u"
done

bold "Alice creates group $group; Bob, Carol and Dave ask to join and she accepts them"
run ALICE 1 create_group "$group"
run BOB 1 join_group "$group"
run CAROL 1 join_group "$group"
run DAVE 1 join_group "$group"
run BOB 1 list_requests "$group"
run ALICE 3 list_requests "$group"
run ALICE 1 accept_request "$group" bob
run ALICE 1 accept_request "$group" carol
run ALICE 1 accept_request "$group" dave
run DAVE 1 list_groups
if ((ntrackers > 1)); then
    echo
    for c in "${clients[@]}"; do
        t=$(tracker_of "$c") || fail "no 'using tracker' line in $c's log" "$c"
        echo "$c uses $t (127.0.0.1:${port_of[$t]}), as its log says: $(grep 'using tracker' "$work/$c.log" | tail -1)"
    done
fi

bold "A file of $file_mib MiB of random bytes"
t=$(now)
if command -v openssl >/dev/null; then
    echo "\$ openssl rand -out files/$fname $size"
    openssl rand -out "$src" "$size"
else
    echo "\$ head -c $size /dev/urandom > files/$fname"
    head -c "$size" /dev/urandom > "$src"
fi
awk -v a="$t" -v b="$(now)" 'BEGIN { printf "(generated in %.2f s)\n", b - a }'

bold "Alice, Bob and Carol share it (each hashes it: SHA1 of every piece)"
hash_secs=$((60 + file_mib / 4))
for c in ALICE BOB CAROL; do
    run_until "$c" "shared " "$hash_secs" upload_file "$src" "$group"
done
run DAVE 1 list_files "$group"

bold "Dave downloads it from all three at once"
download_secs=$((60 + file_mib / 2))
echo "DAVE> download_file $group $fname $work/downloads"
t0=$(now)
send DAVE "download_file $group $fname $work/downloads"
read_line DAVE 20 || fail "DAVE did not answer download_file within 20 s" DAVE
echo "  $line"
[[ "$line" == downloading* ]] || fail "DAVE did not start the download" DAVE
victim=""
failed_over=()  # the clients that used the killed tracker
dave_switched=0
if ((ntrackers > 1)); then
    victim=$(tracker_of DAVE) || fail "no 'using tracker' line in DAVE's log" DAVE
    for c in "${clients[@]}"; do
        [[ "$(tracker_of "$c")" == "$victim" ]] && failed_over+=("$c")
    done
    echo "\$ kill -KILL ${pid[$victim]}   # $victim (127.0.0.1:${port_of[$victim]}), Dave's tracker, in the middle of the download"
    kill -KILL "${pid[$victim]}"
    wait "${pid[$victim]}" 2>/dev/null || true
    echo "(clients that used it: ${failed_over[*]}; they go on with another tracker by themselves)"
fi
echo "DAVE> show_downloads   (every 0.5 s until the [C] line)"
deadline=$(after "$download_secs")
done_line="[C] [$group] $fname  -> $dest"
t1=""
pending=0  # show_downloads answers not read yet (one line each: there is one download)
while [[ -z "$t1" || $pending -gt 0 ]]; do
    if [[ -z "$t1" ]]; then
        send DAVE show_downloads
        pending=$((pending + 1))
    fi
    next_poll=$(after 0.5)
    while w=$(left "$next_poll"); do
        t=$(left "$deadline") || fail "DAVE printed no '$done_line' line within $download_secs s" DAVE
        [[ $(awk -v a="$w" -v b="$t" 'BEGIN { print (a < b) }') == 1 ]] || w=$t
        read_line DAVE "$w" || continue
        stamp=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%5.1f s", b - a }')
        if [[ "$line" == "$done_line" ]]; then
            t1=$(now)
            echo "  $stamp  $line"
        elif [[ "$line" == "[D] "* || "$line" == "[C] "* ]]; then
            pending=$((pending - 1))
            # Once the [C] line is in, the last answer is not worth printing: show_downloads
            # is shown once more below.
            [[ -n "$t1" ]] || echo "  $stamp  $line"
        else
            echo "  $stamp  $line"
            [[ "$line" == error:* ]] && fail "DAVE reported an error while downloading" DAVE
            [[ "$line" == "tracker "*" lost; now using "* ]] && dave_switched=1
        fi
        [[ -n "$t1" && $pending -eq 0 ]] && break
    done
done
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')

bold "Check: the downloaded bytes are the shared bytes"
[[ -f "$dest" ]] || fail "$dest does not exist after the [C] line" DAVE
sum_src=$(sha1sum "$src" | cut -d' ' -f1)
sum_dest=$(sha1sum "$dest" | cut -d' ' -f1)
echo "sha1 $sum_src  files/$fname     (shared)"
echo "sha1 $sum_dest  downloads/$fname (downloaded)"
[[ "$sum_src" == "$sum_dest" ]] || fail "the downloaded file differs from the shared one"
echo "OK: identical"

if [[ -n "$victim" ]]; then
    bold "Fail-over: the clients that used $victim"
    for c in "${failed_over[@]}"; do
        if [[ "$c" == DAVE && $dave_switched -eq 1 ]]; then
            echo "  [DAVE] (printed during the download, above)"
        else
            await_failover "$c" 15
        fi
        echo "  $c's log: $(grep -E 'lost connection to tracker|using tracker' "$work/$c.log" | tail -2 | tr '\n' ' ')"
    done
fi
run DAVE 1 show_downloads
run DAVE 1 list_files "$group"

if ((ntrackers == 1)); then
    bold "Tracker state, as sqlite3 shows it"
    sqlite3 -header -column "$work/tracker.db" \
        "SELECT name, info_hash, length, piece_length FROM files;"
    echo
    sqlite3 -header -column "$work/tracker.db" \
        'SELECT "group", file, user, listen_addr, added_at FROM seeders_view ORDER BY added_at, user;'
else
    bold "Tracker state, as psql shows it (one database behind every tracker)"
    psql -X -d "$db_uri" -c "SELECT name, info_hash, length, piece_length FROM files;"
    psql -X -d "$db_uri" \
        -c 'SELECT "group", file, "user", listen_addr, added_at FROM seeders_view ORDER BY added_at, "user";'
fi

bold "Stopping everything"
alive=()
for n in "${clients[@]}" "${trackers[@]}"; do
    [[ "$n" == "$victim" ]] || alive+=("$n")
done
for n in "${alive[@]}"; do
    echo "$n> quit"
    send "$n" quit
done
deadline=$(after 10)
for n in "${alive[@]}"; do
    while kill -0 "${pid[$n]}" 2>/dev/null; do
        left "$deadline" >/dev/null || fail "$n did not exit within 10 s of 'quit'" "$n"
        sleep 0.05
    done
done
echo "(all ${#alive[@]} processes exited)"

bold "Result"
awk -v s="$size" -v t="$secs" -v m="$file_mib" 'BEGIN {
    printf "Dave downloaded %d MiB from 3 seeders in %.2f s: %.1f MB/s (%.1f MiB/s), verified.\n",
           m, t, s / t / 1e6, s / t / 1048576 }'
if [[ -n "$victim" ]]; then
    echo "$ntrackers trackers on one PostgreSQL database; $victim was killed during the download and" \
        "${#failed_over[@]} client(s) (${failed_over[*]}) failed over to another tracker."
fi
