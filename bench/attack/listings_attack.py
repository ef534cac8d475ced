#!/usr/bin/env python3
"""One account against everyone's listings (issue 10, finding 3), measured; loopback only.

usage: listings_attack.py TRACKER CLIENT [--groups 25000] [--files 12000]

Starts TRACKER in a temp dir on 127.0.0.1:0 (bench/attack/rawtracker.py). One account with a
64-character id sends GROUPS pipelined create_group (59-character ids, at most 2,000 unanswered)
on one raw connection; then, whatever the tracker's quota let through, the database is filled up
to GROUPS groups and FILES files (255-byte names) in one group, written straight into SQLite, to
see what the listings do at that size. Then the real CLIENT logs in as that account and runs list_groups and list_files.
Lines printed:
  create_group   how many of the pipelined create_group were created and refused, in how long,
                 and the first refusal (the finding: all 25,000 created in 7.9 s)
  in database    the groups and files the listings now cover
  raw reply      the size of the tracker's list_groups / list_files reply frame (the first page,
                 if paged) on a raw connection (the finding: 4.3 MB, over the 4 MiB frame limit)
  list_groups    the client's answer: lines printed, error lines (the first one quoted), seconds,
                 and how often the client lost its connection meanwhile (the finding: "oversized
                 frame", about 100 reconnects pulling 4.3 MB each)
  list_files     the same for list_files of the group holding the files
  ticket lifetime  seconds from now to the ticket_expires get_peers hands out
"""
import argparse
import sqlite3
import time

from rawtracker import Tracker, bdec, ok, why

USER, PASSWORD = "u" * 64, "secretpw"
NOW = "2026-11-30T00:00:00Z"
WINDOW = 2000  # create_group requests in flight


def flood_groups(conn, n):
    """`n` create_group on one connection, up to WINDOW of them unanswered at a time (the
    tracker never has to hold more than that in replies while the script is still sending)."""
    start = time.monotonic()
    first_seq = conn.seq + 1
    sent = 0
    created = refused = 0
    first_refusal = ""
    for seq in range(first_seq, first_seq + n):
        while sent < n and conn.seq - seq < WINDOW:
            conn.send("create_group", group=f"grp{sent:05d}-" + "x" * 50)
            sent += 1
        r = conn.reply(seq)
        if ok(r):
            created += 1
        else:
            refused += 1
            first_refusal = first_refusal or why(r)
        if r is None:
            break
    print(f"create_group: {n} pipelined: {created} created, {refused} refused in "
          f"{time.monotonic() - start:.1f} s; first refusal: {first_refusal[:160] or '-'}")


def fill_database(db, groups, files):
    """Tops the database up to `groups` groups (all of them USER's) and `files` files in the
    first group; returns that group's id."""
    con = sqlite3.connect(db, timeout=30)
    user_pk = con.execute("select pk from users where user_id=?", (USER,)).fetchone()[0]
    have = con.execute("select count(*) from groups").fetchone()[0]
    con.executemany("insert into groups(group_id, owner_pk, created_at) values (?, ?, ?)",
                    [(f"zgrp{i:05d}-" + "x" * 50, user_pk, NOW) for i in range(groups - have)])
    con.execute("insert into memberships(group_pk, user_pk, joined_at) select pk, ?, ? from groups "
                "where pk not in (select group_pk from memberships)", (user_pk, NOW))
    gpk, gid = con.execute("select pk, group_id from groups order by pk limit 1").fetchone()
    con.executemany(
        "insert into files(group_pk, name, info_hash, info, length, piece_length, uploaded_by, "
        "created_at) values (?, ?, ?, ?, ?, ?, ?, ?)",
        [(gpk, f"file{i:05d}-" + "y" * 245, "%040x" % (i + 1), b"d4:infoe", 5, 16384, user_pk, NOW)
         for i in range(files)])
    con.execute("insert into seeders(file_pk, user_pk, listen_addr, added_at) "
                "select pk, ?, '127.0.0.1:9', ? from files", (user_pk, NOW))
    con.commit()
    print("in database: %d groups, %d files" % (
        con.execute("select count(*) from groups").fetchone()[0],
        con.execute("select count(*) from files").fetchone()[0]))
    con.close()
    return gid


def raw_reply_bytes(conn, op, **args):
    """The size of the tracker's (first) reply to `op` on a raw connection, which has no frame
    limit, and whether it says more pages follow."""
    seq = conn.send(op, **args)
    while True:
        body = conn.read_frame()
        if body is None:
            return "closed", False
        r = bdec(body)
        if r.get("seq") == seq:
            return f"{len(body):,} bytes" if ok(r) else why(r), r.get("more") == 1


def listing(client, command):
    before = client.stderr_text().count("lost connection")
    lines, took, finished = client.run(command, timeout=120)
    errors = [l for l in lines if l.startswith("error")]
    reconnects = client.stderr_text().count("lost connection") - before
    print(f"{command.split()[0]}: {len(lines)} lines ({len(errors)} error lines"
          f"{': ' + errors[0][:100] if errors else ''}) in {took:.2f} s"
          f"{'' if finished else ' (NOT FINISHED: cut at 120 s)'}; "
          f"client reconnects meanwhile: {reconnects}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("tracker")
    ap.add_argument("client")
    ap.add_argument("--groups", type=int, default=25000)
    ap.add_argument("--files", type=int, default=12000)
    a = ap.parse_args()
    with Tracker(a.tracker) as t:
        c = t.conn()
        c.login(USER, PASSWORD, create=True)
        flood_groups(c, a.groups)
        gid = fill_database(t.db, a.groups, a.files)

        for op, args in (("list_groups", {}), ("list_files", {"group": gid})):
            size, more = raw_reply_bytes(c, op, **args)
            print(f"{op} raw reply: {size}{' (first page; more follow)' if more else ''}")

        client = t.client(a.client, "c")
        if not ok_line(client.run(f"login {USER} {PASSWORD}")[0], "logged in"):
            raise RuntimeError("the client did not log in")
        listing(client, "list_groups")
        listing(client, f"list_files {gid}")

        r = c.ask("get_peers", group=gid, info_hash="%040x" % 1)
        if r and "ticket_expires" in r:
            print(f"ticket lifetime: {r['ticket_expires'] - int(time.time())} s")
        else:
            print(f"ticket lifetime: no ticket ({why(r)})")


def ok_line(lines, text):
    return any(text in l for l in lines)


if __name__ == "__main__":
    main()
