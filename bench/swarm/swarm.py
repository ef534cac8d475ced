#!/usr/bin/python3
"""bench/swarm: one file, 512 KiB pieces, N seeders and one downloader on 127.0.0.1, downloaded by
groupshare, by aria2c and by libtorrent; run by bench/swarm/run.sh (which installs and builds).

    swarm.py [--mib 1024] [--runs 3] [--seeders 4]
             [--engines groupshare,groupshare-plain,aria2c,libtorrent]
             [--build build] [--ot-user _opentracker] [--timeout S] [--out bench/swarm/results.md]

The file is generated once and served, page cache warm, by two swarms that stay up for the whole
run: a groupshare tracker with N groupshare seeders, and opentracker with N libtorrent seeders
(separate processes, each with its own port, each having fully checked the data). Runs are
interleaved (run 1 of every engine, then run 2, ...; the order turns each run) so background load
drifts hit every engine alike. Per run: seconds from the download command to the verified file, MB/s (10^6 bytes), the
downloader's CPU seconds (user+sys) and peak resident memory from /usr/bin/time -v; the copy is
compared with the source and deleted before the next run.

`groupshare` is the default peer wire, the sealed channel (Noise XK, AES-256-GCM); the same
seeders also serve `groupshare-plain`, a downloader started with --plain-peer-wire (plain BEP 3,
pieces by sendfile), which is there to measure what the sealing costs. The seeders run with
--plain-peer-wire so that they accept both; their sealed path is the default one. For the
groupshare engines the CPU seconds each seeder spent during the run are reported too (from
/proc before and after)."""
import argparse, os, re, shutil, signal, socket, statistics, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from benchlib import (ROOT, BenchError, Groupshare, Proc, fs_type, generate, git_rev, loadavg,
                      now, raise_on_signals, require_binaries, run_header, run_text, tail, time_v,
                      warm)

LT_PEER = os.path.join(HERE, 'lt_peer.py')
PY = '/usr/bin/python3'  # python3-libtorrent imports only under Debian's interpreter
ENGINES = ('groupshare', 'groupshare-plain', 'aria2c', 'libtorrent')
GROUPSHARE = ('groupshare', 'groupshare-plain')
PLAIN = ['--plain-peer-wire']
FILE_NAME = 'swarm.bin'


def touch_free_memory(nbytes):
    """Writes one byte in every page of `nbytes` of fresh memory, then frees it. This VM gives
    free pages back to its host (virtio-balloon free page reporting); the first write to such a
    page costs the guest a fault into the host, which made a download that writes the page cache
    right after a large delete (the previous run's copy) up to 4 times slower. Touched here, the
    pages are warm again for the next few seconds, for every engine alike."""
    buf = bytearray(nbytes)
    view = memoryview(buf)
    view[::4096] = bytes(len(range(0, nbytes, 4096)))
    del view, buf


def free_port():
    # A plain bind (no SO_REUSEPORT) also fails on ports that a SO_REUSEPORT listener holds, which
    # opentracker is: a second opentracker on the same port would silently share its connections.
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def wait_listening(port, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(('127.0.0.1', port)) == 0:
                return
        time.sleep(0.05)
    raise BenchError(f'{what} not listening on 127.0.0.1:{port} within {timeout} s')


class Bench:
    def __init__(self, args):
        self.a = args
        self.bytes = args.mib * 1048576
        self.work = tempfile.mkdtemp(prefix='gs-swarm-')
        os.chmod(self.work, 0o755)  # opentracker, as its own user, reads its whitelist in here
        self.src = os.path.join(self.work, 'src', FILE_NAME)
        self.logs = os.path.join(self.work, 'logs')
        os.makedirs(os.path.dirname(self.src))
        os.makedirs(self.logs)
        self.gs_n = 0

    def log(self, name):
        return os.path.join(self.logs, name)

    def dl_dir(self, engine):
        d = os.path.join(self.work, 'dl', engine)
        os.makedirs(d, exist_ok=True)
        return d

    # groupshare: tracker + seeders, as bench/download.py does
    def setup_groupshare(self):
        self.gs = Groupshare(self.a.build, os.path.join(self.work, 'gs'), self.logs)
        self.gs.start_tracker()
        hash_timeout = 60 + self.a.mib * 0.25
        self.gs_owner = None
        seeders = []
        for i in range(self.a.seeders):
            s = self.gs.member(f'gs-seeder{i}', f'seeder{i}', 'bench', self.gs_owner, args=PLAIN)
            self.gs_owner = self.gs_owner or s
            seeders.append(s)
        for s in seeders:
            s.send(f'upload_file {self.src} bench')
        for s in seeders:
            s.expect(r'^shared ', hash_timeout)
        self.gs_seeders = seeders

    def run_groupshare(self, timeout, engine):
        self.gs_n += 1
        name = f'down{self.gs_n}'
        tv = self.log(f'{engine}-{self.gs_n}.time')
        d = self.gs.member(f'gs-{name}', name, 'bench', self.gs_owner,
                           ['/usr/bin/time', '-v', '-o', tv],
                           PLAIN if engine == 'groupshare-plain' else ())
        try:
            dest = os.path.join(self.dl_dir(engine), FILE_NAME)
            before = [s.cpu_seconds() for s in self.gs_seeders]
            secs = self.gs.download(d, 'bench', FILE_NAME, dest, timeout)
            seeders_cpu = [s.cpu_seconds() - b for s, b in zip(self.gs_seeders, before)]
            d.send('quit')
            d.finish(60)
        finally:
            d.kill()
        note = 'seeders CPU s: ' + ' '.join(f'{c:.2f}' for c in seeders_cpu)
        return secs, dest, note, None

    # references: opentracker + libtorrent seeders
    def setup_references(self):
        ot_dir = os.path.join(self.work, 'opentracker')
        os.makedirs(ot_dir)
        os.chmod(ot_dir, 0o755)
        port = free_port()
        url = f'http://127.0.0.1:{port}/announce'
        self.torrent = os.path.join(self.work, 'swarm.torrent')
        out = subprocess.run([PY, LT_PEER, 'mktorrent', self.src, url, self.torrent],
                             capture_output=True, text=True, timeout=120 + self.a.mib * 0.25)
        m = re.match(r'infohash ([0-9a-f]{40})$', out.stdout.strip())
        if out.returncode != 0 or not m:
            raise BenchError(f'making the torrent failed: {out.stdout} {out.stderr}')
        self.info_hash = m.group(1)
        # Debian builds opentracker with WANT_ACCESSLIST_WHITE: only listed info hashes are served.
        whitelist = os.path.join(ot_dir, 'whitelist.txt')
        with open(whitelist, 'w') as f:
            f.write(self.info_hash + '\n')
        os.chmod(whitelist, 0o644)
        # Not the packaged /etc/opentracker/opentracker.conf: its own port and whitelist only.
        # Only a TCP port: without -P it binds no UDP port (and not the default 6969).
        user = self.a.ot_user if os.getuid() == 0 else None
        ot = Proc('opentracker', ['/usr/bin/opentracker', '-i', '127.0.0.1', '-p', str(port),
                                  '-w', whitelist], self.log('opentracker.log'), stdin=False,
                  user=user)
        wait_listening(port, 15, 'opentracker')
        if ot.p.poll() is not None:
            raise BenchError(f'opentracker exited: {tail(ot.log)}')
        seeders = [Proc(f'lt-seeder{i}', [PY, LT_PEER, 'seed', self.torrent,
                                          os.path.dirname(self.src)],
                        self.log(f'lt-seeder{i}.log')) for i in range(self.a.seeders)]
        check_timeout = 60 + self.a.mib * 0.5  # all seeders check the whole file at once
        self.lt_ports = [int(s.expect(r'^ready \d+', check_timeout).split()[1]) for s in seeders]
        if 'Can\'t open accesslist' in open(ot.log).read():
            raise BenchError(f'opentracker could not read {whitelist}')

    def run_aria2c(self, timeout, n):
        d = self.dl_dir('aria2c')
        tv = self.log(f'aria2c-{n}.time')
        log = self.log(f'aria2c-{n}.log')
        argv = ['/usr/bin/time', '-v', '-o', tv, 'aria2c', f'--dir={d}',
                '--seed-time=0',                       # exit once complete
                '--enable-dht=false', '--enable-dht6=false', '--bt-enable-lpd=false',
                '--enable-peer-exchange=false',
                '--file-allocation=falloc',            # like groupshare's posix_fallocate
                f'--listen-port={free_port()}',
                '--console-log-level=warn', '--summary-interval=0', '--download-result=hide',
                '--log-level=warn', f'--log={log}', self.torrent]
        control = os.path.join(d, FILE_NAME + '.aria2')
        with open(self.log(f'aria2c-{n}.out'), 'w') as out:
            t0 = time.monotonic()
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True)
            # aria2c deletes its control file once every piece has passed its hash check; it
            # exits only later (its 1-second ticks: seed-time check, "stopped" announce).
            # Polled for the note; the figure of record is the exit.
            seen, verified = False, None
            while p.poll() is None:
                if time.monotonic() - t0 > timeout:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
                    raise BenchError(f'aria2c: no exit within {timeout:.0f} s (log: {log})')
                if verified is None:
                    there = os.path.exists(control)
                    if there:
                        seen = True
                    elif seen:
                        verified = time.monotonic() - t0
                time.sleep(0.01)
            secs = time.monotonic() - t0
            rc = p.returncode
        if rc != 0:
            raise BenchError(f'aria2c exited with status {rc}: {tail(self.log(f"aria2c-{n}.out"))}')
        note = f'control file gone at {verified:.2f} s' if verified is not None else ''
        return secs, os.path.join(d, FILE_NAME), note, verified

    def run_libtorrent(self, timeout, n):
        d = self.dl_dir('libtorrent')
        tv = self.log(f'libtorrent-{n}.time')
        p = Proc(f'lt-download{n}', ['/usr/bin/time', '-v', '-o', tv, PY, LT_PEER, 'download',
                                     self.torrent, d], self.log(f'lt-download{n}.log'))
        try:
            p.expect(r'^ready$', 60)
            t0 = time.monotonic()
            p.send('go')
            line = p.expect(r'^done ', timeout)
            secs = time.monotonic() - t0
            _, inner, failed, redundant = line.split()
            p.finish(60)
        finally:
            p.kill()
        note = f'in-process {float(inner):.2f} s'
        if int(failed):
            note += f', {int(failed)} B failed hash'
        if int(redundant):
            note += f', {int(redundant)} B redundant'
        return secs, os.path.join(d, FILE_NAME), note, None

    def run(self):
        a = self.a
        print(f'generating {a.mib} MiB ...', flush=True)
        generate(self.src, a.mib)
        if set(GROUPSHARE) & set(a.engines):
            print(f'groupshare: tracker and {a.seeders} seeders (each hashes the file) ...',
                  flush=True)
            self.setup_groupshare()
        if 'aria2c' in a.engines or 'libtorrent' in a.engines:
            print(f'references: torrent, opentracker and {a.seeders} libtorrent seeders '
                  '(each checks the file) ...', flush=True)
            self.setup_references()
        warm(self.src)
        timeout = a.timeout or 60 + a.mib * 0.5
        results = {e: [] for e in a.engines}
        self.runs = []
        for run in range(1, a.runs + 1):
            # The order turns each run, so that no engine always runs right after another one's
            # file was deleted (on this VM, page-cache writes after a large delete can be several
            # times slower: every engine should meet that alike).
            k = (run - 1) % len(a.engines)
            for engine in a.engines[k:] + a.engines[:k]:
                shutil.rmtree(os.path.join(self.work, 'dl'), ignore_errors=True)
                subprocess.run(['sync'], timeout=120)
                touch_free_memory(2 * self.bytes)
                if engine in GROUPSHARE:
                    secs, dest, note, verified = self.run_groupshare(timeout, engine)
                elif engine == 'aria2c':
                    secs, dest, note, verified = self.run_aria2c(timeout, run)
                else:
                    secs, dest, note, verified = self.run_libtorrent(timeout, run)
                n = self.gs_n if engine in GROUPSHARE else run
                cpu, rss = time_v(self.log(f'{engine}-{n}.time'))
                if subprocess.run(['cmp', '-s', self.src, dest], timeout=300).returncode != 0:
                    raise BenchError(f'{engine}: downloaded bytes differ from the source')
                mbps = self.bytes / secs / 1e6
                r = dict(run=run, engine=engine, secs=secs, mbps=mbps, cpu=cpu, rss=rss,
                         note=note, verified=verified)
                results[engine].append(r)
                self.runs.append(r)
                print(f'run {run} {engine:10s} {secs:7.2f} s  {mbps:7.1f} MB/s  cpu {cpu:6.2f} s  '
                      f'peak RSS {rss:7.1f} MiB  bytes match{"  (" + note + ")" if note else ""}',
                      flush=True)
        shutil.rmtree(os.path.join(self.work, 'dl'), ignore_errors=True)
        return results

    def cleanup(self):
        Proc.kill_all()
        if self.a.keep:
            print(f'swarm: kept {self.work}', file=sys.stderr)
        else:
            shutil.rmtree(self.work, ignore_errors=True)


def versions():
    lt = run_text([PY, '-c', 'import libtorrent; print(libtorrent.__version__)'])
    aria = run_text(['aria2c', '--version']).splitlines()[0]
    ot = run_text(['dpkg-query', '-W', '-f=${Version}', 'opentracker'])
    return (f'groupshare {git_rev()}; libtorrent {lt} (python3-libtorrent); {aria}; '
            f'opentracker {ot} (Debian)')


def spread(vals, fmt):
    med, lo, hi = (fmt.format(v) for v in (statistics.median(vals), min(vals), max(vals)))
    return f'{med} ({lo}–{hi})'


def report(args, results, runs, started, load_before, fs):
    lines = ['# bench/swarm results', ''] + run_header(started, load_before) + [
        f'- shape: {args.mib} MiB file, 512 KiB pieces, {args.seeders} seeders + 1 downloader, '
        f'all on 127.0.0.1; {args.runs} run(s) per engine, interleaved; files on {fs}',
        f'- versions: {versions()}',
        '- seconds: from the download command to the verified file (groupshare: '
        '`download_file` → `[C]` line; aria2c: process start → exit; libtorrent: add_torrent → '
        'all pieces passed, state seeding); CPU and peak RSS: the downloader process, '
        '`/usr/bin/time -v`',
        '',
        '| engine | seconds | MB/s | CPU s (user+sys) | peak RSS MiB |',
        '|---|---|---|---|---|',
    ]
    for e, rs in results.items():
        lines.append(f'| {e} | {spread([r["secs"] for r in rs], "{:.2f}")} | '
                     f'{spread([r["mbps"] for r in rs], "{:.1f}")} | '
                     f'{spread([r["cpu"] for r in rs], "{:.2f}")} | '
                     f'{spread([r["rss"] for r in rs], "{:.1f}")} |')
    lines.append('')
    lines.append('Median (min–max) of the runs.')
    aria_v = [r['verified'] for r in results.get('aria2c', []) if r['verified'] is not None]
    if aria_v:
        lines.append(f'aria2c deletes its control file when the last piece has passed its hash '
                     f'check and exits later (1-second ticks: seed-time check, "stopped" '
                     f'announce): to that deletion it took {spread(aria_v, "{:.2f}")} s, '
                     f'{spread([args.mib * 1048576 / v / 1e6 for v in aria_v], "{:.1f}")} MB/s '
                     f'(polled every 10 ms; not the figure of record).')
    med = {e: {k: statistics.median(r[k] for r in rs) for k in ('secs', 'mbps', 'cpu', 'rss')}
           for e, rs in results.items()}
    if 'groupshare' in med and 'groupshare-plain' in med:
        r = med['groupshare']['mbps'] / med['groupshare-plain']['mbps']
        lines += ['', '### The sealed channel against plain BEP 3 (medians)', '',
                  f'- sealed throughput ÷ plain: {r:.2f}x (target >= 0.90: '
                  f'{"met" if r >= 0.9 else "NOT met"})',
                  f'- downloader CPU s: sealed {med["groupshare"]["cpu"]:.2f}, plain '
                  f'{med["groupshare-plain"]["cpu"]:.2f}']
        if 'libtorrent' in med:
            r = med['groupshare']['mbps'] / med['libtorrent']['mbps']
            lines.append(f'- sealed throughput ÷ libtorrent (plain): {r:.2f}x (target > 1: '
                         f'{"met" if r > 1 else "NOT met"})')
        lines.append('- seeders\' CPU seconds per run: the note column of the raw runs')
    refs = [e for e in ('aria2c', 'libtorrent') if e in med]
    if 'groupshare' in med and refs:
        g = med['groupshare']
        lines += ['', '### groupshare against each reference (medians)', '',
                  '| reference | throughput ratio (groupshare MB/s ÷ theirs) | '
                  'CPU ratio (groupshare CPU s ÷ theirs) | peak RSS ratio |',
                  '|---|---|---|---|']
        for e in refs:
            lines.append(f'| {e} | {g["mbps"] / med[e]["mbps"]:.2f}x | '
                         f'{g["cpu"] / med[e]["cpu"]:.2f}x | {g["rss"] / med[e]["rss"]:.2f}x |')
        lines += ['', 'Targets from issue #4:']
        def target(text, ok):
            lines.append(f'- {text}: {"met" if ok else "NOT met"}')
        if 'libtorrent' in med:
            r = g['mbps'] / med['libtorrent']['mbps']
            target(f'throughput >= 2x libtorrent ({r:.2f}x)', r >= 2)
        if 'aria2c' in med:
            r = g['mbps'] / med['aria2c']['mbps']
            target(f'throughput >= 3x aria2c ({r:.2f}x)', r >= 3)
        best = min(refs, key=lambda e: med[e]['cpu'])
        r = g['cpu'] / med[best]['cpu']
        target(f'CPU <= 0.5x the lower of the references ({best}, {r:.2f}x)', r <= 0.5)
        target(f'peak RSS <= 32 MiB ({g["rss"]:.1f} MiB)', g['rss'] <= 32)
    lines += ['', '### Raw runs', '',
              '| run | engine | seconds | MB/s | CPU s | peak RSS MiB | note |',
              '|---|---|---|---|---|---|---|']
    for r in runs:
        lines.append(f'| {r["run"]} | {r["engine"]} | {r["secs"]:.2f} | {r["mbps"]:.1f} | '
                     f'{r["cpu"]:.2f} | {r["rss"]:.1f} | {r["note"]} |')
    return '\n'.join(lines) + '\n'


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--mib', type=int, default=1024)
    ap.add_argument('--runs', type=int, default=3)
    ap.add_argument('--seeders', type=int, default=4)
    ap.add_argument('--engines', default=','.join(ENGINES))
    ap.add_argument('--build', default=os.path.join(ROOT, 'build'))
    ap.add_argument('--ot-user', default='_opentracker')
    ap.add_argument('--timeout', type=float, default=0,
                    help='seconds one download may take (default 60 + 0.5 per MiB)')
    ap.add_argument('--out', default=os.path.join(HERE, 'results.md'))
    ap.add_argument('--keep', action='store_true', help='keep the work directory (logs) at exit')
    args = ap.parse_args()
    args.engines = [e for e in args.engines.split(',') if e]
    bad = [e for e in args.engines if e not in ENGINES]
    if bad or not args.engines or args.mib < 1 or args.runs < 1 or args.seeders < 1:
        sys.exit(f'swarm: bad arguments (engines are {", ".join(ENGINES)})')
    needs = ['/usr/bin/time']
    if set(args.engines) & {'aria2c', 'libtorrent'}:
        needs += ['/usr/bin/opentracker', PY]
    if 'aria2c' in args.engines:
        needs += [shutil.which('aria2c') or 'aria2c']
    if set(GROUPSHARE) & set(args.engines):
        require_binaries(args.build, 'swarm', needs)
    for b in needs:
        if not os.access(b, os.X_OK):
            sys.exit(f'swarm: {b} is missing (bench/swarm/run.sh installs and builds)')
    raise_on_signals(lambda signum: SystemExit(f'swarm: stopped by signal {signum}'))

    started = now()
    load_before = loadavg()
    bench = Bench(args)
    try:
        results = bench.run()
        text = report(args, results, bench.runs, started, load_before, fs_type(bench.work))
    except BenchError as e:
        sys.exit(f'swarm: {e}')
    finally:
        bench.cleanup()
    print()
    print(text, end='')
    with open(args.out, 'w') as f:
        f.write(text)
    print(f'\n(written to {args.out})')


if __name__ == '__main__':
    main()
