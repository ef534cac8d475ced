#!/usr/bin/env python3
"""Writes the seed corpus for the fuzz targets: tests/fuzz/corpus/<target>/<name>.

Small valid inputs that reach each target's main paths; libFuzzer mutates from there. Run it again
after changing an input below (it rewrites the files it names and leaves others alone).
"""
import hashlib
import pathlib
import struct
import sys

HERE = pathlib.Path(__file__).resolve().parent
# BEP 3 bencoding and the tracker's frames, shared with the benchmarks.
sys.path.insert(0, str(HERE.parent.parent / "bench"))
from benchlib import benc, frame


def info(name="a.txt", length=5, piece_length=16384, fill=b"x"):
    pieces = max(1, -(-length // piece_length)) if length else 0
    return benc({"length": length, "name": name, "piece length": piece_length,
                 "pieces": fill * (20 * pieces), "private": 1})


def write(target, name, data):
    d = HERE / "corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


# ---- bencode: any value ----
bencode = {
    "int": b"i42e",
    "negative": b"i-9223372036854775808e",
    "string": b"4:spam",
    "empty_list": b"le",
    "empty_dict": b"de",
    "list": b"l4:spami42eli1ei2eee",
    "dict": benc({"bar": "spam", "foo": 42, "nested": {"a": [1, 2, {"b": ""}]}}),
    "request": benc({"op": "login", "seq": 7, "user": "alice", "password": "pw",
                     "listen": "127.0.0.1:7001"}),
    "info": info(),
    "ext_handshake": benc({"m": {"ut_metadata": 3}, "p": 6881, "v": "groupshare 0.1"}),
}
for name, data in bencode.items():
    write("bencode", name, data)

# ---- frame: byte 0 = cap (>= 0x80: 4 MiB, else byte * 8), bytes 1-3 = chunking seed ----
req = benc({"op": "list_groups", "seq": 1})
write("frame", "two_frames", b"\x80\x01\x02\x03" + frame(req) + frame(benc({"op": "logout", "seq": 2})))
write("frame", "empty_body", b"\x80\x00\x00\x01" + frame(b"") + frame(b"x"))
write("frame", "partial_tail", b"\x80\x05\x06\x07" + frame(req) + frame(req)[:7])
write("frame", "small_cap_too_large", b"\x02\x00\x00\x09" + frame(b"0123") + frame(b"x" * 40))
write("frame", "huge_prefix", b"\xff\x10\x20\x30" + frame(req) + b"\x7f\xff\xff\xff" + b"abc")

# ---- dispatch: request bodies back to back; seq mod 4 picks the connection ----
# 0: logged out, 1: alice (owner of "g", seeder of "a.txt"), 2: bob (member of "g"), 3: carol.
A_HASH = hashlib.sha1(info()).hexdigest()


def reqs(*rs):
    return b"".join(benc(r) for r in rs)


dispatch = {
    "list_groups": reqs({"op": "list_groups", "seq": 1}),
    "logged_out": reqs({"op": "list_groups", "seq": 0}, {"op": "nonsense", "seq": 4}),
    "create_user_login": reqs(
        {"op": "create_user", "seq": 0, "user": "dave", "password": "secret"},
        {"op": "login", "seq": 4, "user": "dave", "password": "secret", "listen": "127.0.0.1:7004"},
        {"op": "create_group", "seq": 8, "group": "h"},
        {"op": "list_groups", "seq": 12},
        {"op": "logout", "seq": 16},
        {"op": "list_groups", "seq": 20}),
    "bad_login": reqs(
        {"op": "login", "seq": 0, "user": "alice", "password": "nope", "listen": "127.0.0.1:1"},
        {"op": "login", "seq": 4, "user": "alice", "password": "pw", "listen": "[::1]:7001"}),
    "resume": reqs({"op": "resume", "seq": 0, "token": "ab" * 32, "listen": "127.0.0.1:7009"}),
    "logout_everywhere": reqs(
        {"op": "login", "seq": 0, "user": "bob", "password": "pw", "listen": "127.0.0.1:7002"},
        {"op": "logout", "seq": 2, "everywhere": 1},
        {"op": "get_file", "seq": 4, "group": "g", "name": "a.txt"},
        {"op": "logout", "seq": 1, "everywhere": 7},
        {"op": "login", "seq": 8, "user": "alice", "password": "x" * 1025, "listen": "127.0.0.1:1"}),
    "join_accept": reqs(
        {"op": "join_group", "seq": 3, "group": "g"},
        {"op": "list_requests", "seq": 1, "group": "g"},
        {"op": "accept_request", "seq": 5, "group": "g", "user": "carol"},
        {"op": "list_files", "seq": 7, "group": "g"}),
    "join_reject": reqs(
        {"op": "join_group", "seq": 3, "group": "g"},
        {"op": "reject_request", "seq": 1, "group": "g", "user": "carol"},
        {"op": "list_requests", "seq": 5, "group": "g"}),
    "leave_owner": reqs(
        {"op": "leave_group", "seq": 1, "group": "g"},
        {"op": "list_groups", "seq": 2},
        {"op": "leave_group", "seq": 6, "group": "g"}),
    "files": reqs(
        {"op": "list_files", "seq": 2, "group": "g"},
        {"op": "get_file", "seq": 6, "group": "g", "name": "a.txt"},
        {"op": "add_seeder", "seq": 10, "group": "g", "info_hash": A_HASH},
        {"op": "stop_share", "seq": 1, "group": "g", "name": "a.txt"},
        {"op": "get_file", "seq": 14, "group": "g", "name": "a.txt"}),
    "upload": reqs(
        {"op": "upload_file", "seq": 2, "group": "g",
         "info": info("b.bin", 40000, 16384, b"y")},
        {"op": "upload_file", "seq": 1, "group": "g", "info": info()},
        {"op": "list_files", "seq": 5, "group": "g"}),
    "remove_member_pages": reqs(
        {"op": "remove_member", "seq": 1, "group": "g", "user": "bob"},
        {"op": "remove_member", "seq": 2, "group": "g", "user": "alice"},
        {"op": "list_groups", "seq": 3, "after": "a"},
        {"op": "list_files", "seq": 4, "group": "g", "after": "a.txt"},
        {"op": "list_requests", "seq": 5, "group": "g", "after": "7"},
        {"op": "list_requests", "seq": 6, "group": "g", "after": "x" * 300}),
    "not_member": reqs(
        {"op": "list_files", "seq": 3, "group": "g"},
        {"op": "create_group", "seq": 7, "group": "c"},
        {"op": "upload_file", "seq": 11, "group": "c", "info": info("c.txt", 0)}),
    "remove_file": reqs(
        {"op": "remove_file", "seq": 2, "group": "g", "name": "a.txt"},
        {"op": "remove_file", "seq": 1, "group": "g", "name": "a.txt"},
        {"op": "list_files", "seq": 5, "group": "g"},
        {"op": "remove_file", "seq": 9, "group": "g", "name": "a.txt"}),
    "prove": reqs(
        {"op": "create_group", "seq": 3, "group": "c"},
        {"op": "upload_file", "seq": 7, "group": "c", "info": info()},
        {"op": "upload_file", "seq": 11, "group": "c", "info": info(), "proof": b"xxxxx"}),
}
for name, data in dispatch.items():
    write("dispatch", name, data)

# ---- wire: [handshake] then messages ----
def msg(mid, payload=b""):
    return struct.pack(">IB", 1 + len(payload), mid) + payload


handshake = (b"\x13BitTorrent protocol" + b"\x00\x00\x00\x00\x00\x10\x00\x00"
             + hashlib.sha1(info()).digest() + b"-GS0100-" + b"0123456789ab")
ext = msg(20, b"\x00" + bencode["ext_handshake"])
wire = {
    "session": handshake + ext + msg(5, b"\xff\x80") + msg(2) + msg(1)
               + msg(6, struct.pack(">III", 0, 0, 16384))
               + msg(7, struct.pack(">II", 0, 0) + b"z" * 64)
               + msg(4, struct.pack(">I", 1)) + msg(8, struct.pack(">III", 0, 16384, 16384))
               + b"\x00\x00\x00\x00" + msg(3) + msg(0),
    "handshake_only": handshake,
    "handshake_partial": handshake[:30],
    "messages": msg(0) + msg(1) + msg(2) + msg(3) + b"\x00\x00\x00\x00",
    "extended": ext + msg(20, b"\x03" + benc({"msg_type": 0, "piece": 0}))
                + msg(20, b"\x00" + benc({"m": {}, "ticket": "t" * 40})),
    "bad_length": msg(6, b"\x00" * 5),
}
for name, data in wire.items():
    write("wire", name, data)

# ---- seal: byte 0 = mode (bits 0-1) | ChaCha20-Poly1305 (bit 2) | cap / 8 (bits 3-7), bytes 1-3 =
# chunking seed (seal_fuzz.cpp); mode 3's operations are opcode, length, bytes ----
def seal(mode, rest, chacha=False, cap8=0, seed=b"\x01\x02\x03"):
    return bytes([mode | (4 if chacha else 0) | (cap8 << 3)]) + seed + rest


def record(body):  # a record's header and a body of ciphertext and tag (not a real one)
    return struct.pack(">I", len(body)) + body


def op(code, arg=b""):
    return bytes([code, len(arg)]) + arg


m1_fake = b"gs-sealA" + bytes(range(48))
seal_inputs = {
    "greeting_fake_message1": seal(0, m1_fake),
    "greeting_bittorrent": seal(0, b"\x13BitTorrent protocol"),
    "greeting_partial": seal(0, b"gs-se", seed=b"\x00\x00\x01"),
    "greeting_unknown_cipher": seal(0, b"gs-sealX" + bytes(48)),
    "message3_fake": seal(1, bytes(64) + record(b"r" * 21)),
    "message3_fake_chacha": seal(1, b"\xaa" * 64, chacha=True),
    "records_fake": seal(2, record(b"r" * 21) + record(b"s" * 16)),
    "records_too_short": seal(2, struct.pack(">I", 3) + b"abc"),
    "records_over_cap": seal(2, record(b"r" * 100), cap8=4),
    "records_partial_chacha": seal(2, struct.pack(">I", 40) + b"r" * 20, chacha=True),
    "ops_both_ways": seal(3, op(0, b"hello") + op(1, b"world") + op(0) + op(1) + op(0, b"again")),
    "ops_both_ways_chacha": seal(3, op(0, b"hello") + op(1, b"world"), chacha=True,
                                 seed=b"\x40\x00\x07"),
    "ops_two_records": seal(3, op(24, b"abc") + op(1, b"x")),
    "ops_cap": seal(3, op(0, b"small") + op(5, b"\x00\x10") + op(0, b"x" * 20)),
    "ops_small_cap": seal(3, op(0, b"y" * 30), cap8=2),
    "ops_flip_body": seal(3, op(0, b"abc") + op(2, b"\x00\x07zz")),
    "ops_flip_header": seal(3, op(2, b"\x00\x03z")),
    "ops_flip_tag_chacha": seal(3, op(8, b"\x00\x19tag-me"), chacha=True),
    "ops_raw_seeder": seal(3, op(0, b"hi") + op(3, record(b"q" * 21))),
    "ops_raw_downloader": seal(3, op(1, b"hi") + op(4, record(b"q" * 17))),
}
for name, data in seal_inputs.items():
    write("seal", name, data)
