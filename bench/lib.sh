# Shell pieces the bench/*/run.sh scripts share; source it after `cd` to the repository root.
#   bench_installed PKG        true when the Debian package PKG is installed
#   bench_install PKG...       installs those of PKG... that are missing (apt-get, sudo if not root)
#   bench_run CMD...           runs CMD in the background and waits for it, so that a signal to
#                              this script reaches it (TERM; the script exits 130/143) instead of
#                              leaving it running; returns its exit status

bench_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

bench_install() {
    local missing=() p sudo=""
    for p in "$@"; do
        bench_installed "$p" || missing+=("$p")
    done
    [[ ${#missing[@]} -gt 0 ]] || return 0
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    echo "installing: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

bench_child=""
bench_stop_child() {
    if [[ -n "$bench_child" ]] && kill -0 "$bench_child" 2>/dev/null; then
        kill -TERM "$bench_child" 2>/dev/null || true
        wait "$bench_child" 2>/dev/null || true
    fi
}

bench_run() {
    trap bench_stop_child EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM HUP
    "$@" &
    bench_child=$!
    local status=0
    wait "$bench_child" || status=$?
    bench_child=""
    return "$status"
}
