#!/usr/bin/env bash
# Builds groupshare and runs a live scenario on 127.0.0.1: a tracker and three clients walk
# through accounts and groups. Everything runs in a temporary directory that is removed after.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh >/dev/null
build="$(pwd)/${BUILD_DIR:-build}"

work="$(mktemp -d)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

bold() { if [[ -t 1 ]]; then printf '\n\033[1m%s\033[0m\n' "$*"; else printf '\n== %s\n' "$*"; fi; }

# The tracker picks a free port; clients get a tracker_info.txt naming it.
echo "127.0.0.1:0" > "$work/tracker_seed.txt"
coproc TRACKER { exec "$build/tracker/tracker" "$work/tracker_seed.txt" 1 --db "$work/tracker.db" 2>"$work/tracker.log"; }
pids+=("$TRACKER_PID")
read -r -t 10 line <&"${TRACKER[0]}"
echo "$line"
port="${line##*127.0.0.1:}"; port="${port%% *}"
echo "127.0.0.1:$port" > "$work/tracker_info.txt"

start_client() {  # name
    local name=$1
    eval "coproc $name { exec \"$build/peer/client\" 127.0.0.1:0 \"$work/tracker_info.txt\" --data-dir \"$work/$name\" 2>\"$work/$name.log\"; }"
    local pid_var="${name}_PID"
    pids+=("${!pid_var}")
    local fd_var="${name}[0]"
    read -r -t 10 line <&"${!fd_var}"
    echo "[$name] $line"
}

# Sends one command to a client and prints the `lines` lines it answers with.
run() {  # name lines command...
    local name=$1 lines=$2; shift 2
    local in_var="${name}[1]" out_var="${name}[0]"
    echo "$name> $*"
    echo "$*" >&"${!in_var}"
    for ((i = 0; i < lines; i++)); do
        read -r -t 20 line <&"${!out_var}" || { echo "  (no answer; see $work/$name.log)"; return 1; }
        echo "  $line"
    done
}

bold "Three clients connect"
start_client ALICE; start_client BOB; start_client CAROL

bold "Accounts"
run ALICE 1 create_user alice s3cret-alice
run BOB 1 create_user bob s3cret-bob
run CAROL 1 create_user carol s3cret-carol
run BOB 1 login bob wrong-password
run ALICE 1 login alice s3cret-alice
run BOB 1 login bob s3cret-bob
run CAROL 1 login carol s3cret-carol

bold "Alice creates a group; Bob and Carol ask to join"
run ALICE 1 create_group movies
run BOB 1 join_group movies
run CAROL 1 join_group movies
run BOB 1 list_requests movies
run ALICE 2 list_requests movies
run ALICE 1 accept_request movies bob
run ALICE 1 reject_request movies carol
run CAROL 1 list_groups

bold "The owner leaves: the longest-standing member takes over"
run ALICE 1 leave_group movies
run BOB 1 list_groups
run BOB 1 leave_group movies
run CAROL 1 list_groups

bold "Tracker state, as sqlite3 shows it"
sqlite3 -header -column "$work/tracker.db" "SELECT user_id, substr(password_hash, 1, 30) || '...' AS password_hash FROM users;"
bold "Done"
