#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for tests and demos (Debian's postgresql-15).
#
#   scripts/pg-cluster.sh start DIR [PORT]   make the cluster in DIR if needed, start it, print its URI
#   scripts/pg-cluster.sh stop DIR [--discard]  stop it (nothing to do when it is not running);
#                                            --discard skips the shutdown checkpoint, for a
#                                            cluster about to be deleted
#   scripts/pg-cluster.sh uri DIR            print its connection URI
#   scripts/pg-cluster.sh start-standby PRIMARY_DIR STANDBY_DIR [PORT]
#                                            a streaming standby of the running cluster in
#                                            PRIMARY_DIR, made synchronous (a commit on the
#                                            primary returns once the standby has it); prints its
#                                            URI
#   scripts/pg-cluster.sh promote DIR        makes the standby in DIR a primary
#
# It listens on a Unix socket in DIR only, and also on 127.0.0.1:PORT when PORT is given; never
# on another address. fsync stays on. Anyone on this machine who can reach the socket or the
# port connects as the superuser `postgres` without a password (trust): it is for throwaway
# data only. initdb refuses to run as root, so as root the cluster belongs to the `postgres`
# user (DIR is chown'ed to it).
set -euo pipefail

bin=/usr/lib/postgresql/15/bin
die() { echo "pg-cluster.sh: $*" >&2; exit 1; }
usage() {
    die "usage: pg-cluster.sh start DIR [PORT] | stop DIR [--discard] | uri DIR |" \
        "start-standby PRIMARY_DIR STANDBY_DIR [PORT] | promote DIR"
}

[[ $# -ge 2 ]] || usage
cmd=$1
dir=$(realpath -m "$2")
port=${3:-}
if [[ "$cmd" == start-standby ]]; then
    [[ $# -ge 3 && $# -le 4 ]] || usage
    primary=$dir
    dir=$(realpath -m "$3")
    port=${4:-}
fi
[[ -x "$bin/initdb" && -x "$bin/pg_ctl" ]] ||
    die "PostgreSQL 15 is not installed ($bin/initdb missing): run scripts/install-deps.sh --test"

as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# The socket's port number (its file name) is the TCP port when there is one, else 5432.
socket_port() {
    local p
    p=$(sed -n "s/^port = \([0-9]*\)$/\1/p" "$dir/data/postgresql.auto.conf" 2>/dev/null | tail -1)
    echo "${p:-5432}"
}

print_uri() {
    [[ -f "$dir/data/PG_VERSION" ]] || die "no cluster in $dir"
    local p
    p=$(socket_port)
    if grep "^listen_addresses = " "$dir/data/postgresql.auto.conf" | tail -1 |
        grep -q "'127.0.0.1'"; then
        echo "postgresql://postgres@127.0.0.1:$p/postgres"
    else
        # The socket directory as the host, percent-encoded.
        echo "postgresql://postgres@${dir//\//%2F}:$p/postgres"
    fi
}

case "$cmd" in
start)
    [[ $# -le 3 ]] || usage
    [[ -z "$port" || "$port" =~ ^[0-9]+$ ]] || die "PORT '$port' must be a number"
    mkdir -p "$dir"
    [[ $(id -u) -eq 0 ]] && chown postgres: "$dir"
    chmod 0700 "$dir"
    if [[ ! -f "$dir/data/PG_VERSION" ]]; then
        as_owner "$bin/initdb" --pgdata="$dir/data" --username=postgres --auth=trust \
            --encoding=UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 ||
            die "initdb failed; see $dir/initdb.log"
        {
            echo "unix_socket_directories = '$dir'"
            echo "fsync = on"
            if [[ -n "$port" ]]; then
                echo "listen_addresses = '127.0.0.1'"
                echo "port = $port"
            else
                echo "listen_addresses = ''"
            fi
        } | as_owner tee -a "$dir/data/postgresql.auto.conf" >/dev/null
    fi
    if ! as_owner "$bin/pg_ctl" status --pgdata="$dir/data" >/dev/null 2>&1; then
        as_owner "$bin/pg_ctl" start --pgdata="$dir/data" --log="$dir/server.log" --wait \
            --timeout=30 >/dev/null || die "the server did not start; see $dir/server.log"
    fi
    print_uri
    ;;
stop)
    mode=fast
    case "${3:-}" in
    "") ;;
    --discard) mode=immediate ;;
    *) usage ;;
    esac
    [[ -f "$dir/data/PG_VERSION" ]] || exit 0
    if as_owner "$bin/pg_ctl" status --pgdata="$dir/data" >/dev/null 2>&1; then
        as_owner "$bin/pg_ctl" stop --pgdata="$dir/data" --mode=$mode --wait --timeout=60 >/dev/null
    fi
    ;;
uri)
    [[ $# -eq 2 ]] || usage
    print_uri
    ;;
start-standby)
    [[ -z "$port" || "$port" =~ ^[0-9]+$ ]] || die "PORT '$port' must be a number"
    [[ ! -f "$dir/data/PG_VERSION" ]] || die "$dir already holds a cluster"
    primary_uri=$("$0" uri "$primary")
    primary_port=$(dir=$primary socket_port)
    psql -X -q -d "$primary_uri" -c 'SELECT 1' >/dev/null || die "the primary in $primary is not running"
    mkdir -p "$dir"
    [[ $(id -u) -eq 0 ]] && chown postgres: "$dir"
    chmod 0700 "$dir"
    # -R: standby.signal and primary_conninfo; the primary's socket is in its directory.
    as_owner "$bin/pg_basebackup" --pgdata="$dir/data" --host="$primary" --port="$primary_port" \
        --username=postgres --wal-method=stream --checkpoint=fast -R \
        >"$dir/basebackup.log" 2>&1 || die "pg_basebackup failed; see $dir/basebackup.log"
    {
        echo "primary_conninfo = 'host=$primary port=$primary_port user=postgres application_name=gs_standby'"
        echo "unix_socket_directories = '$dir'"
        if [[ -n "$port" ]]; then
            echo "listen_addresses = '127.0.0.1'"
            echo "port = $port"
        else
            echo "listen_addresses = ''"
            echo "port = 5432"
        fi
    } | as_owner tee -a "$dir/data/postgresql.auto.conf" >/dev/null
    as_owner "$bin/pg_ctl" start --pgdata="$dir/data" --log="$dir/server.log" --wait \
        --timeout=30 >/dev/null || die "the standby did not start; see $dir/server.log"
    psql -X -q -d "$primary_uri" -c "ALTER SYSTEM SET synchronous_standby_names = 'gs_standby'" \
        -c 'SELECT pg_reload_conf()' >/dev/null
    # Until the standby streams in sync, commits on the primary wait: wait for it (30 s at most).
    for _ in $(seq 300); do
        state=$(psql -X -At -d "$primary_uri" -c \
            "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'gs_standby'")
        [[ "$state" == sync ]] && break
        sleep 0.1
    done
    [[ "$state" == sync ]] || die "the standby did not become synchronous; see $dir/server.log"
    print_uri
    ;;
promote)
    [[ $# -eq 2 ]] || usage
    [[ -f "$dir/data/standby.signal" ]] || die "$dir holds no standby"
    as_owner "$bin/pg_ctl" promote --pgdata="$dir/data" --wait --timeout=30 >/dev/null ||
        die "promotion failed; see $dir/server.log"
    ;;
*)
    usage
    ;;
esac
