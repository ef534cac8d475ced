"""Shared pieces of the issue-10 attack scripts (bench/attack/*.py); loopback only.

- benc / bdec / frame: BEP 3 bencoding (bdec returns dicts with str keys, strings as bytes) and
  the tracker's frames, from bench/benchlib.py.
- Conn: a raw TLS 1.3 connection to the tracker speaking its frames (docs/protocol.md §1),
  optionally from another loopback source address (127.0.0.2, ...), as an attacker would.
- Tracker: the real tracker binary started in its own temp dir on 127.0.0.1:0; stopped with
  `quit` (then killed by PID) and its temp dir removed when the `with` block ends.
- Client: the real client binary driven through stdin, with a deadline on every command.
- fetch_block: the peer wire as a downloader speaks it (handshake, extended handshake with a
  ticket, interested, request): True when the seeder sends the block.
- rss_kib: a process's VmRSS (or VmHWM) from /proc.

Nothing here talks to anything but 127.0.0.0/8, and every wait has a deadline.
"""
import os
import queue
import re
import select
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchlib import bdec, benc, frame

LOOPBACK = "127.0.0.1"
MIB = 1024 * 1024


# ---- the tracker's requests --------------------------------------------------------------

def request_frame(op, seq, **args):
    return frame(benc(dict(args, op=op, seq=seq)))


def ok(reply):
    return isinstance(reply, dict) and reply.get("ok") == 1


def why(reply):
    """'ok', or the reply's code and error, or 'closed' when there was none."""
    if reply is None:
        return "closed"
    if ok(reply):
        return "ok"
    return "%s: %s" % (reply.get("code", b"?").decode(), reply.get("error", b"").decode())


# ---- processes ---------------------------------------------------------------------------

def rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def _read_line(stream, deadline, what):
    """One line from a text pipe, or RuntimeError past the deadline."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([stream], [], [], left)[0]:
            raise RuntimeError(f"{what}: nothing in time")
        line = stream.readline()
        if not line:
            raise RuntimeError(f"{what}: exited")
        return line


def _stop(proc, name):
    """`quit` on stdin, then SIGKILL by PID if it does not exit in 20 s."""
    if proc.poll() is None:
        try:
            proc.stdin.write("quit\n")
            proc.stdin.flush()
        except OSError:
            pass
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            print(f"({name} {proc.pid} did not quit; killed)")
            proc.kill()
            proc.wait()


class Tracker:
    """The tracker binary on 127.0.0.1:0 in a temp dir (`with Tracker(path) as t:`)."""

    def __init__(self, binary, args=(), keep=False):
        self.binary, self.args, self.keep = os.path.abspath(binary), list(args), keep
        self.dir = tempfile.mkdtemp(prefix="gs-attack-")
        self.db = os.path.join(self.dir, "t.db")
        self.info_path = os.path.join(self.dir, "tracker_info.txt")
        self.clients = []

    def __enter__(self):
        try:
            return self._start()
        except BaseException:
            if hasattr(self, "proc"):
                self.proc.kill()
                self.proc.wait()
            shutil.rmtree(self.dir, ignore_errors=True)
            raise

    def _start(self):
        own = os.path.join(self.dir, "own.txt")
        with open(own, "w") as f:
            f.write(f"{LOOPBACK}:0\n")
        self.stderr = open(os.path.join(self.dir, "tracker.err"), "w")
        self.proc = subprocess.Popen([self.binary, own, "1", "--db", self.db] + self.args,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr, cwd=self.dir, text=True)
        deadline = time.monotonic() + 30
        while True:
            m = re.search(r"127\.0\.0\.1:(\d+)", _read_line(self.proc.stdout, deadline, "tracker"))
            if m:
                self.port = int(m.group(1))
                break
        with open(self.info_path, "w") as f:
            f.write(f"{LOOPBACK}:{self.port}\n")
        return self

    def __exit__(self, *exc):
        for c in self.clients:
            c.stop()
        _stop(self.proc, "tracker")
        self.stderr.close()
        if self.keep:
            print(f"(kept {self.dir})")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def pid(self):
        return self.proc.pid

    def conn(self, source=LOOPBACK):
        return Conn(self.port, source)

    def client(self, binary, name):
        c = Client(binary, self, name)
        self.clients.append(c)
        return c


class Client:
    """The client binary (data dir in the tracker's temp dir), stopped with the tracker."""

    def __init__(self, binary, tracker, name):
        self.dir = os.path.join(tracker.dir, name)
        os.makedirs(self.dir)
        self.stderr_path = os.path.join(tracker.dir, name + ".err")
        self.stderr = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(
            [os.path.abspath(binary), f"{LOOPBACK}:0", tracker.info_path, "--data-dir", os.path.join(self.dir, "data"), "--verbose"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        self.lines = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        try:
            first = self.lines.get(timeout=30)
            m = re.search(r"serving pieces on .*:(\d+)$", first or "")
            if not m:
                raise RuntimeError(f"client: unexpected first line {first!r}")
        except BaseException:
            self.proc.kill()
            self.proc.wait()
            raise
        self.port = int(m.group(1))

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def run(self, command, timeout=60):
        """Runs one command; returns (its output lines, seconds, finished in time)."""
        sentinel = "__sync_%d__" % time.monotonic_ns()
        start = time.monotonic()
        self.proc.stdin.write(f"{command}\n{sentinel}\n")
        self.proc.stdin.flush()
        out = []
        while True:
            left = start + timeout - time.monotonic()
            try:
                line = self.lines.get(timeout=max(left, 0.01))
            except queue.Empty:
                return out, time.monotonic() - start, False
            if line is None:
                return out, time.monotonic() - start, False
            if sentinel in line:
                return out, time.monotonic() - start, True
            out.append(line)

    def wait_for(self, pattern, timeout=60):
        """The first later stdout line matching `pattern` (a regex), or None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                return None
            if line is None:
                return None
            m = re.search(pattern, line)
            if m:
                return m
        return None

    def stderr_text(self):
        with open(self.stderr_path) as f:
            return f.read()

    def stop(self):
        _stop(self.proc, "client")
        self.stderr.close()


# ---- the tracker protocol over TLS -------------------------------------------------------

class Conn:
    """A raw TLS 1.3 connection to the tracker (certificate not checked: loopback only)."""

    def __init__(self, port, source=LOOPBACK, timeout=60):
        raw = socket.create_connection((LOOPBACK, port), timeout=timeout,
                                       source_address=(source, 0))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        self.s = ctx.wrap_socket(raw)
        self.buf = b""
        self.seq = 0

    def send_raw(self, data):
        """False when the tracker has closed the connection."""
        try:
            self.s.sendall(data)
            return True
        except OSError:
            return False

    def send(self, op, **args):
        """Sends one request without waiting; returns its seq."""
        self.seq += 1
        self.send_raw(request_frame(op, self.seq, **args))
        return self.seq

    def read_frame(self):
        """The next frame's body, or None once the connection is closed (or times out)."""
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack(">I", self.buf[:4])[0]
                if len(self.buf) >= 4 + n:
                    body, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
                    return body
            try:
                chunk = self.s.recv(1 << 20)
            except OSError:
                return None
            if not chunk:
                return None
            self.buf += chunk

    def reply(self, seq):
        """The decoded reply to `seq` (other frames skipped), or None when closed."""
        while True:
            body = self.read_frame()
            if body is None:
                return None
            r = bdec(body)
            if isinstance(r, dict) and r.get("seq") in (seq, 0):
                return r

    def ask(self, op, **args):
        return self.reply(self.send(op, **args))

    def login(self, user, password, listen=f"{LOOPBACK}:9", create=False):
        if create:
            self.ask("create_user", user=user, password=password)
        r = self.ask("login", user=user, password=password, listen=listen)
        if not ok(r):
            raise RuntimeError(f"login {user}: {why(r)}")
        return r

    def closed(self, timeout):
        """Seconds until the tracker closed this connection, or None if still open after
        `timeout` seconds."""
        start = time.monotonic()
        self.s.settimeout(timeout)
        try:
            while True:
                chunk = self.s.recv(1 << 16)
                if not chunk:
                    return time.monotonic() - start
                self.buf += chunk
        except (socket.timeout, TimeoutError):
            return None
        except OSError:
            return time.monotonic() - start
        finally:
            self.s.settimeout(60)

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


# ---- the peer wire -----------------------------------------------------------------------

def fetch_block(port, info_hash_hex, ticket, timeout=2.0, source=LOOPBACK):
    """Asks the seeder on 127.0.0.1:`port` for block 0 of piece 0 as a downloader would (from
    `source`), showing `ticket` in the BEP 10 extended handshake; True when the 16 KiB block
    comes back in time."""
    hello = (b"\x13BitTorrent protocol" + b"\0\0\0\0\0\x10\0\0" + bytes.fromhex(info_hash_hex)
             + b"-GA0001-attackattack")
    ext = benc({"ticket": ticket})
    msg = (hello + struct.pack(">IBB", 2 + len(ext), 20, 0) + ext
           + struct.pack(">IB", 1, 2)                         # interested
           + struct.pack(">IBIII", 13, 6, 0, 0, 16384))       # request piece 0, block 0
    s = socket.create_connection((LOOPBACK, port), timeout=timeout, source_address=(source, 0))
    buf = b""
    deadline = time.monotonic() + timeout
    try:
        s.sendall(msg)
        while time.monotonic() < deadline:
            s.settimeout(max(deadline - time.monotonic(), 0.01))
            chunk = s.recv(1 << 16)
            if not chunk:
                break
            buf += chunk
            if _has_piece(buf[68:]):
                return True
    except OSError:
        pass
    finally:
        s.close()
    return False


def _has_piece(stream):
    """True when the peer-wire message stream holds a complete `piece` (id 7) message."""
    i = 0
    while len(stream) - i >= 4:
        n = struct.unpack(">I", stream[i:i + 4])[0]
        if len(stream) - i - 4 < n:
            return False
        if n > 0 and stream[i + 4] == 7:
            return True
        i += 4 + n
    return False
