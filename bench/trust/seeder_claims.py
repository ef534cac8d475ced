#!/usr/bin/env python3
"""What the tracker believes about seeders (issue 10, finding 6), for before/after figures.

    python3 bench/trust/seeder_claims.py TRACKER_BINARY N

Starts the tracker on 127.0.0.1:0 in a temp dir; bob owns group g; mallory joins, logs in N
times (N connections, listen ports 5001..5000+N, the first naming the foreign IP 10.9.8.7) and
registers each as a seeder of one file; prints the addresses bob is sent to."""
import os, re, shutil, socket, ssl, struct, subprocess, sys, tempfile

def benc(v):
    if isinstance(v, int): return b"i%de" % v
    if isinstance(v, str): v = v.encode()
    if isinstance(v, bytes): return b"%d:%s" % (len(v), v)
    if isinstance(v, dict):
        return b"d" + b"".join(benc(k) + benc(v[k]) for k in sorted(v)) + b"e"
    raise TypeError(v)

class Conn:
    def __init__(self, port):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)))
        self.seq = 0
    def req(self, op, **a):
        self.seq += 1; a["op"] = op; a["seq"] = self.seq
        body = benc(a); self.s.sendall(struct.pack(">I", len(body)) + body)
        while True:
            hdr = b""
            while len(hdr) < 4: hdr += self.s.recv(4 - len(hdr))
            n = struct.unpack(">I", hdr)[0]; data = b""
            while len(data) < n: data += self.s.recv(n - len(data))
            if b"3:seqi%de" % self.seq in data: return data

def main():
    binary, n = sys.argv[1], int(sys.argv[2])
    d = tempfile.mkdtemp()
    info_path = os.path.join(d, "tracker_info.txt")
    open(info_path, "w").write("127.0.0.1:0\n")
    p = subprocess.Popen([binary, info_path, "1", "--db", os.path.join(d, "t.db")],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    port = None
    while port is None:
        m = re.search(r"127\.0\.0\.1:(\d+)", p.stdout.readline())
        if m: port = int(m.group(1))
    try:
        bob = Conn(port)
        bob.req("create_user", user="bob", password="secret")
        bob.req("login", user="bob", password="secret", listen="127.0.0.1:7002")
        bob.req("create_group", group="g")
        info = benc({"length": 5, "name": "x.bin", "piece length": 16384, "pieces": b"x" * 20, "private": 1})
        ms = []
        for i in range(1, n + 1):
            c = Conn(port)
            if i == 1: c.req("create_user", user="mallory", password="secret")
            ip = "10.9.8.7" if i == 1 else "127.0.0.1"
            r = c.req("login", user="mallory", password="secret", listen="%s:%d" % (ip, 5000 + i))
            assert b"2:oki1e" in r, r
            if i == 1:
                c.req("join_group", group="g"); bob.req("accept_request", group="g", user="mallory")
            r = c.req("upload_file", group="g", info=info)
            assert b"2:oki1e" in r, r
            ms.append(c)
        r = bob.req("get_file", group="g", name="x.bin")
        addrs = [r[m.end():m.end() + int(m.group(1))].decode()
                 for m in re.finditer(rb"4:addr(\d+):", r)]
        print("mallory logins: %d; addresses bob is sent to: %d: %s" % (n, len(addrs), " ".join(addrs[:6]) + (" ..." if len(addrs) > 6 else "")))
        print("foreign IP 10.9.8.7 recorded:", any(a.startswith("10.9.8.7") for a in addrs))
    finally:
        p.kill(); p.wait()
        shutil.rmtree(d, ignore_errors=True)

main()
