#!/usr/bin/env python3
"""Revoking membership (issue 10, finding 1), measured; loopback only, bounded.

usage: leaver_attack.py TRACKER CLIENT [--watch SECONDS] [--no-remaining-member]
                        [--tracker-arg ARG ...]

Starts TRACKER in a temp dir on 127.0.0.1:0 (bench/attack/rawtracker.py). alice owns group g and
her real CLIENT shares a 300 kB file in it; bob, carol and dave are members. bob and carol ask the
tracker for the file (get_file) and keep the ticket it hands out. Then bob leaves g and logs out,
and alice removes carol (remove_member). dave, still a member, then gets a ticket and fetches a
block, as any downloader in the swarm would (the seeder learns the group's newer membership epoch
from it); --no-remaining-member leaves that out, so the held tickets can only expire. Every 0.5 s, for at most --watch seconds (default 40), each of
them asks alice's seeder for a block with the ticket he kept, from another address (127.0.0.3).
Then bob, no longer a member, creates a group of his own and uploads g's info dictionary there
(he never had the file) to get fresh tickets for it. Lines printed:
  ticket lifetime   seconds from issue to the ticket's expiry (the finding: 600)
  served before     whether each ticket got a block while its holder was a member (both yes)
  leave / remove_member  the tracker's answers (before: remove_member did not exist)
  remaining member  whether dave's fresh ticket got a block
  bob / carol       "refused N s after ..." or "still served N s later (ticket expires in M s)"
  own group upload  the tracker's answer to bob's upload_file of the info dict into his group
                    (the finding: accepted; now a prove_piece challenge he cannot meet)
  own group ticket  whether alice's seeder serves the ticket for bob's own group (the finding:
                    yes; now no ticket, and a seeder refuses a ticket for a group it does not
                    share the file in)
"""
import argparse
import os
import re
import time

from rawtracker import Tracker, fetch_block, ok, why

PASSWORD = "secretpw"
LEAVER_ADDRESS = "127.0.0.3"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("tracker")
    ap.add_argument("client")
    ap.add_argument("--watch", type=float, default=40.0)
    ap.add_argument("--no-remaining-member", action="store_true")
    ap.add_argument("--tracker-arg", action="append", default=[])
    a = ap.parse_args()
    with Tracker(a.tracker, a.tracker_arg) as t:
        conns = {}
        for user in ("alice", "bob", "carol", "dave"):
            conns[user] = t.conn()
            conns[user].login(user, PASSWORD, create=True)
        owner = conns["alice"]
        owner.ask("create_group", group="g")
        for user in ("bob", "carol", "dave"):
            conns[user].ask("join_group", group="g")
            owner.ask("accept_request", group="g", user=user)

        seeder = t.client(a.client, "alice")
        src = os.path.join(t.dir, "f.bin")
        with open(src, "wb") as f:
            f.write(os.urandom(300000))
        out, _, _ = seeder.run(f"login alice {PASSWORD}")
        out, _, _ = seeder.run(f"upload_file {src} g")
        m = re.search(r"info hash ([0-9a-f]{40})", " ".join(out))
        if not m:
            raise RuntimeError(f"upload_file: {out}")
        info_hash = m.group(1)

        tickets = {}
        for user in ("bob", "carol"):
            r = conns[user].ask("get_file", group="g", name="f.bin")
            if not ok(r):
                raise RuntimeError(f"get_file for {user}: {why(r)}")
            tickets[user] = (r["ticket"], r["ticket_expires"])
            info = r["info"]
        print(f"ticket lifetime: {tickets['bob'][1] - int(time.time())} s")
        print("served before: " + ", ".join(
            f"{u} {'yes' if fetch_block(seeder.port, info_hash, tk[0]) else 'no'}"
            for u, tk in tickets.items()))

        print("leave (bob): " + why(conns["bob"].ask("leave_group", group="g")) +
              "; logout: " + why(conns["bob"].ask("logout")))
        print("remove_member (carol): " + why(owner.ask("remove_member", group="g", user="carol")))
        start = time.monotonic()
        if not a.no_remaining_member:
            r = conns["dave"].ask("get_file", group="g", name="f.bin")
            served = ok(r) and fetch_block(seeder.port, info_hash, r["ticket"])
            print(f"remaining member: dave's fresh ticket served: {'yes' if served else 'no'}")
        pending = dict(tickets)
        while pending and time.monotonic() - start < a.watch:
            for user, (ticket, _) in list(pending.items()):
                if not fetch_block(seeder.port, info_hash, ticket, source=LEAVER_ADDRESS):
                    how = "leaving" if user == "bob" else "the removal"
                    print(f"{user}: refused {time.monotonic() - start:.1f} s after {how}")
                    del pending[user]
            time.sleep(0.5)
        for user, (_, expires) in pending.items():
            print(f"{user}: still served {a.watch:.0f} s later "
                  f"(ticket expires in {expires - int(time.time())} s)")

        # bob, outside g, makes a group of his own for the same info dictionary.
        bob = t.conn(LEAVER_ADDRESS)
        bob.login("bob", PASSWORD)
        bob.ask("create_group", group="bobs")
        r = bob.ask("upload_file", group="bobs", info=info)
        if ok(r) and "prove_piece" in r:
            print(f"own group upload: challenged to prove piece {r['prove_piece']}; nothing recorded")
        else:
            print(f"own group upload: {why(r)}")
        r = bob.ask("get_file", group="bobs", name="f.bin")
        if ok(r) and "ticket" in r:
            served = fetch_block(seeder.port, info_hash, r["ticket"], source=LEAVER_ADDRESS)
            print(f"own group ticket: issued; alice's seeder serves it: {'yes' if served else 'no'}")
        else:
            print(f"own group ticket: none ({why(r)})")


if __name__ == "__main__":
    main()
