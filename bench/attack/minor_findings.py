#!/usr/bin/env python3
"""The smaller points of issue 10 (finding 7), measured; loopback only, bounded.

usage: minor_findings.py TRACKER CLIENT

Starts TRACKER in a temp dir on 127.0.0.1:0 (bench/attack/rawtracker.py); alice owns group g and
her real CLIENT shares a file in it; eve belongs to no group. Lines printed:
  non-member listing  what list_groups tells eve about g: which fields she sees (the finding:
                      owner and member count of every group)
  create_user probe   300 pipelined create_user from 127.0.0.2 for an existing id (as a prober
                      sees it: "taken" tells him the id exists): how many were answered and how
                      many refused, in how long (the finding: all answered, at full speed)
  file modes          the permission bits of the tracker's database and its WAL (the finding: 0644)
  ticketless peer     what alice's seeder sends in 4 s to a handshake for the file's info hash
                      without a ticket (handshake, bitfield, ...), and whether it closed the
                      connection (the finding: handshake and bitfield)
"""
import os
import re
import socket
import stat
import struct
import sys
import time

from rawtracker import LOOPBACK, Tracker, bdec, request_frame

PASSWORD = "secretpw"


def non_member_listing(t):
    eve = t.conn()
    eve.login("eve", PASSWORD, create=True)
    r = eve.ask("list_groups")
    g = next((x for x in r.get("groups", []) if x.get("group") == b"g"), None)
    fields = ", ".join(f"{k}={v.decode() if isinstance(v, bytes) else v}"
                       for k, v in sorted(g.items())) if g else "g not listed"
    print(f"non-member listing: eve sees g as: {fields}")


def create_user_probe(t):
    probe = t.conn("127.0.0.2")
    n = 300
    probe.send_raw(b"".join(request_frame("create_user", i + 1,
                                          user="alice", password=PASSWORD)
                              for i in range(n)))
    start = time.monotonic()
    taken = refused = 0
    for _ in range(n):
        body = probe.read_frame()
        if body is None:
            break
        r = bdec(body)
        if r.get("code") == b"already_exists":
            taken += 1
        else:
            refused += 1
    print(f"create_user probe: {n} pipelined from one address: {taken} answered 'taken', "
          f"{refused} refused ({time.monotonic() - start:.1f} s)")


def file_modes(t):
    modes = []
    for suffix in ("", "-wal"):
        path = t.db + suffix
        modes.append(f"{os.path.basename(path)} {stat.S_IMODE(os.stat(path).st_mode):04o}"
                     if os.path.exists(path) else f"{os.path.basename(path)} absent")
    print("file modes: " + ", ".join(modes))


def ticketless_peer(port, info_hash_hex):
    hello = (b"\x13BitTorrent protocol" + b"\0\0\0\0\0\x10\0\0" + bytes.fromhex(info_hash_hex)
             + b"-GA0001-attackattack")
    s = socket.create_connection((LOOPBACK, port), timeout=4)
    s.sendall(hello)
    buf = b""
    start = time.monotonic()
    closed = None
    try:
        while time.monotonic() < start + 4:
            s.settimeout(max(start + 4 - time.monotonic(), 0.01))
            chunk = s.recv(1 << 16)
            if not chunk:
                closed = time.monotonic() - start
                break
            buf += chunk
    except socket.timeout:
        pass
    except OSError:
        closed = time.monotonic() - start
    s.close()
    seen, i, stream = [], 68, buf
    if len(stream) >= 68:
        seen.append("handshake")
    names = {0: "choke", 1: "unchoke", 5: "bitfield", 20: "extended handshake"}
    while len(stream) - i >= 4:
        n = struct.unpack(">I", stream[i:i + 4])[0]
        if n and len(stream) - i - 4 >= 1:
            seen.append(names.get(stream[i + 4], f"message {stream[i + 4]}"))
        i += 4 + n
    print("ticketless peer: the seeder sent: " + (", ".join(seen) or "nothing") + "; " +
          ("still open after 4 s" if closed is None else f"closed after {closed:.1f} s"))


def main():
    if len(sys.argv) != 3 or sys.argv[1].startswith("-"):
        sys.exit(__doc__)
    with Tracker(sys.argv[1]) as t:
        alice = t.conn()
        alice.login("alice", PASSWORD, create=True)
        alice.ask("create_group", group="g")
        seeder = t.client(sys.argv[2], "alice")
        src = os.path.join(t.dir, "secret.bin")
        with open(src, "wb") as f:
            f.write(os.urandom(300000))
        seeder.run(f"login alice {PASSWORD}")
        out, _, _ = seeder.run(f"upload_file {src} g")
        m = re.search(r"info hash ([0-9a-f]{40})", " ".join(out))
        if not m:
            raise RuntimeError(f"upload_file: {out}")
        non_member_listing(t)
        create_user_probe(t)
        file_modes(t)
        ticketless_peer(seeder.port, m.group(1))


if __name__ == "__main__":
    main()
