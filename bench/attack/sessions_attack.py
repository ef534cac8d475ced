#!/usr/bin/env python3
"""Logout and the session's other connections (issue 10, finding 4); loopback only, bounded.

usage: sessions_attack.py TRACKER

Starts TRACKER in a temp dir on 127.0.0.1:0 (bench/attack/rawtracker.py). alice logs in on a
first connection and shares a (made-up) file in her group; a second connection resumes her token
(as a client does after losing its link, or as whoever stole the token would). The first
connection logs out; the second then asks for list_groups, get_file and get_peers. Then a third
connection logs in (a session whose token leaked) and a fourth sends logout with everywhere 1.
Lines printed:
  after logout      whether (and how soon) the tracker closed the resumed connection, and the
                    answers it got to list_groups / get_file (ticket or not) / get_peers
                    (the finding: all three answered, fresh tickets included)
  resume again      the answer to resuming the logged-out token on a new connection
  logout everywhere the answer, whether (how soon) the other session's connection was closed
                    and what it gets for list_groups then
"""
import sys

from rawtracker import Tracker, benc, ok, why

PASSWORD = "secretpw"
LISTEN = "127.0.0.1:9"


def ticket_or_why(r):
    return "ticket issued" if ok(r) and "ticket" in r else why(r)


def main():
    if len(sys.argv) != 2 or sys.argv[1].startswith("-"):
        sys.exit(__doc__)
    with Tracker(sys.argv[1]) as t:
        first = t.conn()
        token = first.login("alice", PASSWORD, listen=LISTEN, create=True)["token"]
        first.ask("create_group", group="books")
        info = benc({"length": 5, "name": "b.bin", "piece length": 16384,
                     "pieces": b"b" * 20, "private": 1})
        r = first.ask("upload_file", group="books", info=info)
        info_hash = r["info_hash"].decode()
        second = t.conn()
        print("resume on a second connection: " + why(second.ask("resume", token=token, listen=LISTEN)))

        print("logout on the first: " + why(first.ask("logout")))
        closed = second.closed(2.0)
        closed = "still open after 2 s" if closed is None else f"closed after {closed:.2f} s"
        answers = [("list_groups", why(second.ask("list_groups"))),
                   ("get_file", ticket_or_why(second.ask("get_file", group="books", name="b.bin"))),
                   ("get_peers", ticket_or_why(second.ask("get_peers", group="books",
                                                           info_hash=info_hash)))]
        print(f"after logout: second connection {closed}; "
              + "; ".join(f"{op}: {a}" for op, a in answers))
        print("resume again: " + why(t.conn().ask("resume", token=token, listen=LISTEN)))

        leaked = t.conn()
        leaked.login("alice", PASSWORD, listen=LISTEN)
        other = t.conn()
        other.login("alice", PASSWORD, listen=LISTEN)
        r = other.ask("logout", everywhere=1)
        closed = leaked.closed(2.0)
        closed = "still open after 2 s" if closed is None else f"closed after {closed:.2f} s"
        print(f"logout everywhere: {why(r)}; the other session's connection {closed}; "
              f"its list_groups: {why(leaked.ask('list_groups'))}")


if __name__ == "__main__":
    main()
