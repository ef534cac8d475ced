#!/usr/bin/env python3
"""What the tracker believes about seeders (issue 10, finding 6, tracker side); loopback only.

usage: seeder_claims.py TRACKER [N]

Starts TRACKER in a temp dir on 127.0.0.1:0 (bench/attack/rawtracker.py). bob owns group g;
mallory joins, logs in N times (default 31: N connections, listen ports 5001..5000+N, the first
naming the foreign IP 10.9.8.7) and registers each as a seeder of one file (an info dictionary
he made up; he has no such file). Then mallory squats the name secret.bin with another made-up
info dictionary before bob uploads his real secret.bin. Lines printed:
  addresses        how many addresses bob is sent to for mallory's file, the first few (the
                   finding: all N, each a place downloaders keep connecting to)
  foreign IP       whether 10.9.8.7 (named by mallory, not his connection's address) is listed
  squat            bob's upload of his real secret.bin after mallory's fake one (the finding:
                   "already has a different file named")
  remove_file      bob (owner) removing the squatted name (before: no such request), and his
                   upload of the real file after it
"""
import sys

from rawtracker import Tracker, benc, ok, why

PASSWORD = "secret"


def fake_info(name, length, filler):
    return benc({"length": length, "name": name, "piece length": 16384,
                 "pieces": filler * 20, "private": 1})


def main():
    if len(sys.argv) not in (2, 3) or sys.argv[1].startswith("-"):
        sys.exit(__doc__)
    n = int(sys.argv[2]) if len(sys.argv) == 3 else 31
    with Tracker(sys.argv[1]) as t:
        bob = t.conn()
        bob.login("bob", PASSWORD, listen="127.0.0.1:7002", create=True)
        bob.ask("create_group", group="g")
        info = fake_info("x.bin", 5, b"x")
        mallory = []
        for i in range(1, n + 1):
            c = t.conn()
            if i == 1:
                c.ask("create_user", user="mallory", password=PASSWORD)
            ip = "10.9.8.7" if i == 1 else "127.0.0.1"
            c.login("mallory", PASSWORD, listen="%s:%d" % (ip, 5000 + i))
            if i == 1:
                c.ask("join_group", group="g")
                bob.ask("accept_request", group="g", user="mallory")
            r = c.ask("upload_file", group="g", info=info)
            if not ok(r):
                raise RuntimeError(f"upload_file by mallory: {why(r)}")
            mallory.append(c)
        r = bob.ask("get_file", group="g", name="x.bin")
        addrs = [p["addr"].decode() for p in r.get("peers", [])]
        print("addresses: mallory logins: %d; addresses bob is sent to: %d: %s" % (
            n, len(addrs), " ".join(addrs[:6]) + (" ..." if len(addrs) > 6 else "")))
        print("foreign IP 10.9.8.7 listed:", any(a.startswith("10.9.8.7") for a in addrs))

        r = mallory[0].ask("upload_file", group="g", info=fake_info("secret.bin", 1000, b"m"))
        real = fake_info("secret.bin", 2000, b"b")  # stands for bob's real file
        print(f"squat: mallory's fake secret.bin: {why(r)}; "
              f"bob's real one after it: {why(bob.ask('upload_file', group='g', info=real))}")
        r = bob.ask("remove_file", group="g", name="secret.bin")
        print(f"remove_file: {why(r)}; bob's real secret.bin after it: "
              f"{why(bob.ask('upload_file', group='g', info=real))}")


if __name__ == "__main__":
    main()
