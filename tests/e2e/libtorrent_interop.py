#!/usr/bin/python3
"""Interoperability: a real libtorrent session downloads a file from our seeding client.

Starts the real `tracker` and `client` binaries (paths from GS_TRACKER and GS_CLIENT, set by
tests/e2e/meson.build) on 127.0.0.1 in a fresh temp dir, shares a random file whose last piece is
short, reads the file's bencoded info dictionary from the tracker's database, and has libtorrent
(Debian's python3-libtorrent, importable only under /usr/bin/python3) fetch it from our client over
the BEP 3 peer wire. The downloaded bytes must equal the original.

libtorrent is configured to speak only what our uploader understands (docs/protocol.md, section 2):
plain TCP (no uTP, no MSE encryption), no DHT (so no BEP 5 `port` message), no LSD, UPnP, NAT-PMP,
and no default extension plugins (ut_pex, ut_metadata). It still sends a BEP 10 extended handshake,
which our client must ignore.

Exit status: 0 pass, 1 fail, 77 skipped (libtorrent cannot be imported; meson reports a skip).
Set GS_E2E_KEEP_TMP=1 to keep the temp dir after the run.
"""

import collections
import hashlib
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

try:
    import libtorrent as lt
except ImportError as e:  # meson treats 77 as "skipped"
    print(f"SKIP: cannot import libtorrent under {sys.executable}: {e}; "
          "install python3-libtorrent (scripts/install-deps.sh --test)")
    sys.exit(77)

STEP_TIMEOUT_S = 15.0  # one command: create_user/login cost an argon2id hash on the tracker
HASH_TIMEOUT_S = 30.0  # upload_file hashes the whole file first
DOWNLOAD_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 5.0

PIECE_BYTES = 512 * 1024  # shared/proto/metainfo.hpp kPieceLengthBytes
BLOCK_BYTES = 16 * 1024   # BEP 3 block size
# 16 whole pieces, then a short last piece of 3 whole blocks and a short block.
FILE_BYTES = 16 * PIECE_BYTES + 3 * BLOCK_BYTES + 1234
assert FILE_BYTES % PIECE_BYTES != 0

# libtorrent alerts kept for a failure report: the first ones (session start, connection,
# handshakes, first messages) and the last ones; the routine per-block and per-piece chatter
# (requests, blocks, disk writes, haves) only for the last moments.
ALERT_HEAD = 150
ALERT_TAIL = 250
ROUTINE_ALERT_TAIL = 40
ROUTINE_PEER_LOG = re.compile(r"<== PIECE|==> REQUEST|FILE_ASYNC_WRITE|REQUEST_TIME|PIECE_PICKER|"
                              r"CORKED_WRITE|ASYNC_READ|ASYNC_WRITE|ON_SEND_DATA|WROTE \[|"
                              r"ON_RECEIVE_DATA|READ \[|DISK \[|UPDATE_QUEUE_SIZE|RECEIVED \[|"
                              r"==> HAVE|AVAILABLE \[|UPDATE_INTEREST")


class TestFailure(Exception):
    pass


class Process:
    """A child in its own process group; reader threads collect stdout lines and stderr text."""

    def __init__(self, name, argv, cwd):
        self.name = name
        self.argv = argv
        self._lines = []
        self._stderr = []
        self._cond = threading.Condition()
        self._eof = False
        self.proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True)
        self._threads = [threading.Thread(target=self._read_stdout, daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for t in self._threads:
            t.start()

    def _read_stdout(self):
        for raw in self.proc.stdout:
            with self._cond:
                self._lines.append(raw.decode(errors="replace").rstrip("\r\n"))
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def _read_stderr(self):
        for raw in self.proc.stderr:
            with self._cond:
                self._stderr.append(raw.decode(errors="replace").rstrip("\r\n"))

    def line_count(self):
        with self._cond:
            return len(self._lines)

    def wait_for(self, pattern, timeout_s, start=0, fail_pattern=None):
        """The first match of `pattern` in a stdout line at index >= start, within timeout_s.
        A line matching `fail_pattern` first, the end of stdout or the deadline is a failure."""
        rx = re.compile(pattern)
        bad = re.compile(fail_pattern) if fail_pattern else None
        deadline = time.monotonic() + timeout_s
        i = start
        with self._cond:
            while True:
                while i < len(self._lines):
                    line = self._lines[i]
                    i += 1
                    m = rx.search(line)
                    if m:
                        return m
                    if bad and bad.search(line):
                        raise TestFailure(f"{self.name}: got {line!r} "
                                          f"while waiting for /{pattern}/")
                if self._eof:
                    raise TestFailure(f"{self.name}: stdout ended (exit status "
                                      f"{self.proc.poll()}) while waiting for /{pattern}/")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TestFailure(f"{self.name}: no line matching /{pattern}/ "
                                      f"within {timeout_s:.0f} s")
                self._cond.wait(left)

    def command(self, line, expect, timeout_s=STEP_TIMEOUT_S):
        """Sends one command line and waits for its answer; an `error: ` line fails."""
        start = self.line_count()
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()
        return self.wait_for(expect, timeout_s, start=start, fail_pattern=r"^error: ")

    def stop(self):
        """SIGTERM to the process group, then SIGKILL if it is still there after a while."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait()
        for t in self._threads:
            t.join(timeout=STOP_TIMEOUT_S)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass

    def stderr_lines(self):
        with self._cond:
            return list(self._stderr)

    def dump(self):
        with self._cond:
            out = "\n".join("    " + l for l in self._lines)
            err = "\n".join("    " + l for l in self._stderr)
        return (f"--- {self.name}: {' '.join(self.argv)} (exit status {self.proc.poll()})\n"
                f"  stdout:\n{out}\n  stderr:\n{err}\n")


def binary_from_env(name):
    path = os.environ.get(name)
    if not path:
        raise TestFailure(f"{name} is not set; run this test through `meson test` "
                          "(tests/e2e/meson.build sets it)")
    return path


def read_info(db_path, file_name):
    """(info bytes, info_hash hex) of `file_name` from the tracker's `files` table."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT info, info_hash FROM files WHERE name = ?",
                          (file_name,)).fetchall()
    finally:
        db.close()
    if len(rows) != 1:
        raise TestFailure(f"expected one row for {file_name!r} in the tracker's files table, "
                          f"found {len(rows)}")
    info, info_hash = rows[0]
    return bytes(info), info_hash.lower()


class Downloader:
    """One libtorrent session speaking plain BEP 3 + BEP 10 over TCP on 127.0.0.1."""

    def __init__(self):
        quiet = lt.alert_category.stats | lt.alert_category.block_progress
        settings = {
            "listen_interfaces": "127.0.0.1:0",
            "enable_dht": False,
            "enable_lsd": False,
            "enable_upnp": False,
            "enable_natpmp": False,
            "enable_outgoing_utp": False,
            "enable_incoming_utp": False,
            # Our uploader speaks no MSE/PE; with encryption "enabled" libtorrent would open
            # with an encrypted handshake, be dropped and retry in plain text.
            "out_enc_policy": int(lt.enc_policy.disabled),
            "in_enc_policy": int(lt.enc_policy.disabled),
            "alert_mask": int(lt.alert_category.all) & ~int(quiet),
            "alert_queue_size": 100000,
        }
        # flags 0: without add_default_plugins there is no ut_pex, ut_metadata or smart_ban.
        self.session = lt.session(settings, 0)
        self.handle = None
        self.alert_head = []
        self.alert_tail = collections.deque(maxlen=ALERT_TAIL)
        self.alerts_seen = 0
        self.routine_alerts = collections.deque(maxlen=ROUTINE_ALERT_TAIL)
        self.problems = []  # peer errors and disconnects, kept whole for the report

    def add(self, torrent_bytes, save_path):
        params = lt.add_torrent_params()
        params.ti = lt.torrent_info(torrent_bytes)
        params.save_path = save_path
        # Start now (not paused, not queued) and keep every other peer source off.
        params.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
        params.flags |= (lt.torrent_flags.disable_dht | lt.torrent_flags.disable_lsd
                         | lt.torrent_flags.disable_pex)
        self.handle = self.session.add_torrent(params)
        return self.handle

    def drain_alerts(self):
        """Records pending alerts; returns the peer problems among them."""
        new_problems = []
        for a in self.session.pop_alerts():
            text = f"{time.monotonic():.3f} [{a.what()}] {a.message()}"
            routine = (isinstance(a, lt.picker_log_alert)
                       or (isinstance(a, lt.peer_log_alert) and ROUTINE_PEER_LOG.search(text)))
            if routine:
                self.routine_alerts.append(text)
            elif len(self.alert_head) < ALERT_HEAD:
                self.alert_head.append(text)
            else:
                self.alert_tail.append(text)
            self.alerts_seen += not routine
            if isinstance(a, (lt.peer_error_alert, lt.peer_disconnected_alert,
                              lt.torrent_error_alert, lt.file_error_alert,
                              lt.hash_failed_alert)):
                self.problems.append(text)
                new_problems.append(text)
        return new_problems

    def dump(self):
        lines = [f"--- libtorrent {lt.__version__}"]
        h = self.handle
        if h is not None and h.is_valid():
            s = h.status()
            lines.append(f"  status: state={s.state} progress={s.progress:.3f} "
                         f"pieces={s.num_pieces} peers={s.num_peers} "
                         f"downloaded={s.total_wanted_done}/{s.total_wanted} "
                         f"error={s.errc.message() if s.errc.value() else ''}")
            for p in h.get_peer_info():
                lines.append(f"  peer {p.ip} client={p.client!r} flags={p.flags} "
                             f"downloaded={p.total_download}")
        lines.append(f"  peer problems ({len(self.problems)}):")
        lines += ["    " + p for p in self.problems]
        lines.append(f"  alerts other than per-block traffic ({self.alerts_seen}):")
        lines += ["    " + a for a in self.alert_head]
        left_out = self.alerts_seen - len(self.alert_head) - len(self.alert_tail)
        if left_out > 0:
            lines.append(f"    ... {left_out} left out ...")
        lines += ["    " + a for a in self.alert_tail]
        lines.append(f"  last {len(self.routine_alerts)} per-block alerts:")
        lines += ["    " + a for a in self.routine_alerts]
        return "\n".join(lines) + "\n"

    def close(self):
        if self.handle is not None and self.handle.is_valid():
            self.session.remove_torrent(self.handle)
        self.handle = None
        self.session = None  # the session shuts down (and closes its sockets) here


def start_tracker(tmp, tracker_bin):
    info0 = os.path.join(tmp, "tracker_info_any_port.txt")
    with open(info0, "w") as f:
        f.write("127.0.0.1:0\n")
    db_path = os.path.join(tmp, "tracker.db")
    tracker = Process("tracker", [tracker_bin, info0, "1", "--db", db_path], cwd=tmp)
    m = tracker.wait_for(r"listening on (127\.0\.0\.1:\d+)", STEP_TIMEOUT_S)
    # Only now, with the real port known, the clients get their tracker_info.
    info = os.path.join(tmp, "tracker_info.txt")
    with open(info, "w") as f:
        f.write(m.group(1) + "\n")
    return tracker, info, db_path


def run(tmp, procs, ctx):
    tracker_bin = binary_from_env("GS_TRACKER")
    client_bin = binary_from_env("GS_CLIENT")

    tracker, tracker_info, db_path = start_tracker(tmp, tracker_bin)
    procs.append(tracker)

    client = Process("client", [client_bin, "127.0.0.1:0", tracker_info,
                                "--data-dir", os.path.join(tmp, "client-data")], cwd=tmp)
    procs.append(client)
    seed_port = int(client.wait_for(r"serving pieces on 127\.0\.0\.1:(\d+)",
                                    STEP_TIMEOUT_S).group(1))

    original = os.urandom(FILE_BYTES)
    src_dir = os.path.join(tmp, "src")
    os.mkdir(src_dir)
    file_name = "interop.bin"
    src_path = os.path.join(src_dir, file_name)
    with open(src_path, "wb") as f:
        f.write(original)

    client.command("create_user alice secret-pw", r".")
    client.command("login alice secret-pw", r".")
    client.command("create_group interop", r".")
    client.command(f"upload_file {src_path} interop", r"^shared ", timeout_s=HASH_TIMEOUT_S)
    # libtorrent has no groupshare ticket: the share must be opened to ticketless peers
    # explicitly (SECURITY.md).
    client.command(f"open_share interop {file_name}", r"is now served to any peer")

    info, db_info_hash = read_info(db_path, file_name)
    if hashlib.sha1(info).hexdigest() != db_info_hash:
        raise TestFailure(f"the tracker's info_hash {db_info_hash} is not the SHA1 of its info "
                          f"dictionary ({hashlib.sha1(info).hexdigest()})")

    dl = Downloader()
    ctx["libtorrent"] = dl
    # A .torrent file is {"info": <info dict>}; keep the info bytes as they are so the hash
    # libtorrent computes is over exactly what the tracker stored.
    handle = dl.add(b"d4:info" + info + b"e", os.path.join(tmp, "libtorrent"))
    ti = handle.torrent_file()
    lt_hash = str(ti.info_hashes().v1)
    if lt_hash != db_info_hash:
        raise TestFailure(f"libtorrent computes info hash {lt_hash}, the tracker "
                          f"stored {db_info_hash}")
    if ti.total_size() != FILE_BYTES or ti.piece_length() != PIECE_BYTES:
        raise TestFailure(f"libtorrent reads size {ti.total_size()}, piece length "
                          f"{ti.piece_length()}; expected {FILE_BYTES}, {PIECE_BYTES}")
    if not ti.priv():
        raise TestFailure("libtorrent does not see the torrent as private")

    # Connect once the torrent has checked its (empty) save path and is downloading. With one
    # peer on loopback and encryption off, any disconnect or error before the end is a failure.
    deadline = time.monotonic() + DOWNLOAD_TIMEOUT_S
    connected = False
    while True:
        problems = dl.drain_alerts()
        status = handle.status()
        if status.is_seeding:
            break
        if problems:
            raise TestFailure("libtorrent reported a problem before finishing: "
                              + "; ".join(problems))
        if status.errc.value():
            raise TestFailure(f"libtorrent torrent error: {status.errc.message()}")
        if not connected and status.state == lt.torrent_status.downloading:
            handle.connect_peer(("127.0.0.1", seed_port))
            connected = True
        if time.monotonic() > deadline:
            raise TestFailure(f"libtorrent is not a seed after {DOWNLOAD_TIMEOUT_S:.0f} s "
                              f"(progress {status.progress:.3f}, "
                              f"{status.num_pieces}/{ti.num_pieces()} pieces)")
        dl.session.wait_for_alert(200)

    handle.flush_cache()
    downloaded_path = os.path.join(tmp, "libtorrent", file_name)
    with open(downloaded_path, "rb") as f:
        downloaded = f.read()
    if downloaded != original:
        first = next((i for i, (a, b) in enumerate(zip(downloaded, original)) if a != b),
                     min(len(downloaded), len(original)))
        raise TestFailure(f"{downloaded_path} differs from the original: "
                          f"{len(downloaded)} vs {FILE_BYTES} bytes, first difference at "
                          f"byte {first} (piece {first // PIECE_BYTES})")
    print(f"ok: libtorrent {lt.__version__} downloaded {FILE_BYTES} bytes "
          f"({ti.num_pieces()} pieces, last {FILE_BYTES % PIECE_BYTES} bytes) from our "
          f"client on port {seed_port}; bytes match, info hash {db_info_hash}")


def main():
    keep = os.environ.get("GS_E2E_KEEP_TMP") == "1"
    tmp = tempfile.mkdtemp(prefix="gs-libtorrent-interop-")
    procs = []
    ctx = {}
    status = 1
    try:
        run(tmp, procs, ctx)
        status = 0
    except TestFailure as e:
        print(f"FAIL: {e}")
    except Exception as e:  # an unexpected error still gets everyone's output below
        import traceback
        traceback.print_exc(file=sys.stdout)
        print(f"FAIL: {type(e).__name__}: {e}")
    finally:
        dl = ctx.get("libtorrent")
        if dl is not None:
            try:
                dl.drain_alerts()
            except Exception as e:  # the rest of the report matters more
                print(f"(could not read libtorrent's last alerts: {e})")
            if status != 0:
                sys.stdout.write(dl.dump())
            dl.close()
        for p in procs:
            p.stop()
        if status != 0:
            for p in procs:
                sys.stdout.write(p.dump())
        else:
            if dl is not None:
                for problem in dl.problems:
                    print(f"note: libtorrent reported: {problem}")
            for p in procs:
                for line in p.stderr_lines():
                    if p.name == "client" and "upload to" in line:
                        print(f"note: client logged: {line}")
        if keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    sys.stdout.flush()
    return status


if __name__ == "__main__":
    sys.exit(main())
