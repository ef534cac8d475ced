#!/usr/bin/python3
"""libtorrent roles for bench/swarm (run under Debian's /usr/bin/python3: python3-libtorrent
imports only there).

    lt_peer.py mktorrent FILE ANNOUNCE_URL OUT.torrent   prints "infohash <40 hex>"
    lt_peer.py seed TORRENT SAVE_DIR                     checks the data fully, announces as a
                                                         seed, prints "ready <port>", serves until
                                                         stdin closes
    lt_peer.py download TORRENT SAVE_DIR                 prints "ready"; on a "go" line adds the
                                                         torrent; prints "done <seconds>" once all
                                                         pieces passed their hash check (state
                                                         seeding), then exits

Every session: listens on 127.0.0.1 only (an ephemeral port), DHT, LSD, UPnP, NAT-PMP and uTP
off, several connections per IP allowed (every peer here is 127.0.0.1). A failure prints
"error: <words>" on stdout and exits 1."""
import os, sys, time

import libtorrent as lt

PIECE_BYTES = 512 * 1024


def fail(msg):
    print(f'error: {msg}', flush=True)
    sys.exit(1)


def make_session():
    settings = {
        'listen_interfaces': '127.0.0.1:0',
        'enable_dht': False,
        'enable_lsd': False,
        'enable_upnp': False,
        'enable_natpmp': False,
        'enable_outgoing_utp': False,
        'enable_incoming_utp': False,
        'allow_multiple_connections_per_ip': True,
        'alert_mask': lt.alert.category_t.error_notification
        | lt.alert.category_t.status_notification
        | lt.alert.category_t.tracker_notification,
    }
    ses = lt.session(settings)
    deadline = time.monotonic() + 10
    while not ses.is_listening() or ses.listen_port() == 0:
        if time.monotonic() > deadline:
            fail('libtorrent session did not start listening on 127.0.0.1 in 10 s')
        time.sleep(0.01)
    return ses


def drain_errors(ses):
    """Returns (tracker_replies, fatal_message or None) from the pending alerts."""
    replies, fatal = 0, None
    for a in ses.pop_alerts():
        if isinstance(a, lt.tracker_reply_alert):
            replies += 1
        elif isinstance(a, (lt.torrent_error_alert, lt.file_error_alert, lt.listen_failed_alert,
                            lt.tracker_error_alert)):
            # A tracker error is fatal too: without the tracker this swarm has no peers.
            fatal = a.message()
        elif isinstance(a, lt.hash_failed_alert):
            print(f'libtorrent: {a.message()}', file=sys.stderr, flush=True)
    return replies, fatal


def add(ses, ti, save_dir):
    params = lt.add_torrent_params()
    params.ti = ti
    params.save_path = save_dir
    # Neither seed_mode nor resume data: a seeder proves it has every piece by a full check, and
    # the downloader starts from nothing.
    params.flags &= ~lt.torrent_flags.auto_managed
    params.flags &= ~lt.torrent_flags.paused
    return ses.add_torrent(params)


def mktorrent(path, url, out):
    fs = lt.file_storage()
    lt.add_files(fs, path)
    # v1 only: opentracker and aria2 know SHA1 info hashes; libtorrent 2.0 makes hybrid v1+v2
    # torrents by default.
    ct = lt.create_torrent(fs, PIECE_BYTES, lt.create_torrent.v1_only)
    ct.add_tracker(url)
    ct.set_creator('groupshare bench/swarm')
    lt.set_piece_hashes(ct, os.path.dirname(os.path.abspath(path)))
    data = lt.bencode(ct.generate())
    with open(out, 'wb') as f:
        f.write(data)
    ti = lt.torrent_info(out)
    if ti.piece_length() != PIECE_BYTES:
        fail(f'torrent has {ti.piece_length()}-byte pieces, wanted {PIECE_BYTES}')
    print(f'infohash {ti.info_hash()}', flush=True)


def seed(torrent, save_dir):
    ses = make_session()
    ti = lt.torrent_info(torrent)
    h = add(ses, ti, save_dir)
    checked = False
    while not checked:
        for a in ses.pop_alerts():
            if isinstance(a, lt.torrent_checked_alert):
                checked = True
            elif isinstance(a, (lt.torrent_error_alert, lt.file_error_alert,
                                lt.listen_failed_alert, lt.tracker_error_alert)):
                fail(a.message())
        ses.wait_for_alert(50)
    st = h.status()
    if st.num_pieces != ti.num_pieces() or st.state != lt.torrent_status.seeding:
        fail(f'check found {st.num_pieces} of {ti.num_pieces()} pieces in {save_dir}')
    # The first announce may have gone out before the check finished (left > 0): announce again
    # as a seed, now (the tracker's min interval would otherwise defer it for many minutes), and
    # wait until the tracker has answered that one.
    drain_errors(ses)
    h.force_reannounce(0, -1, lt.torrent_handle.ignore_min_interval)
    while True:
        replies, fatal = drain_errors(ses)
        if fatal:
            fail(fatal)
        if replies:
            break
        ses.wait_for_alert(50)
    print(f'ready {ses.listen_port()}', flush=True)
    for _ in sys.stdin:  # serve until stdin closes
        pass
    ses.remove_torrent(h)


def download(torrent, save_dir):
    ses = make_session()
    ti = lt.torrent_info(torrent)
    print('ready', flush=True)
    line = sys.stdin.readline()
    if line.strip() != 'go':
        fail('expected "go" on stdin')
    t0 = time.monotonic()
    h = add(ses, ti, save_dir)
    while True:
        _, fatal = drain_errors(ses)
        if fatal:
            fail(fatal)
        st = h.status()
        if st.state == lt.torrent_status.seeding and st.num_pieces == ti.num_pieces():
            break
        ses.wait_for_alert(20)
    secs = time.monotonic() - t0
    print(f'done {secs:.3f} {st.total_failed_bytes} {st.total_redundant_bytes}', flush=True)
    ses.remove_torrent(h)


def main():
    if len(sys.argv) == 5 and sys.argv[1] == 'mktorrent':
        mktorrent(*sys.argv[2:])
    elif len(sys.argv) == 4 and sys.argv[1] == 'seed':
        seed(*sys.argv[2:])
    elif len(sys.argv) == 4 and sys.argv[1] == 'download':
        download(*sys.argv[2:])
    else:
        sys.exit(__doc__)


if __name__ == '__main__':
    main()
