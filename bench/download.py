#!/usr/bin/env python3
"""Times one groupshare download on 127.0.0.1: a tracker, N seeders sharing a generated file,
and one downloader run under /usr/bin/time -v.

    bench/download.py [--mib 1024] [--seeders 4] [--runs 1] [--build build]

For each run it prints the seconds from the download_file command to the "[C]" line (the file
complete, verified and renamed into place), the throughput, and the downloader's CPU seconds
(user+sys) and peak resident memory as /usr/bin/time -v reports them when the client exits.
The downloader does nothing but this one download; the file is generated once per invocation
(page cache warm for the seeders)."""
import argparse, os, queue, re, shutil, subprocess, sys, tempfile, threading, time

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--mib', type=int, default=1024)
    ap.add_argument('--seeders', type=int, default=4)
    ap.add_argument('--runs', type=int, default=1)
    ap.add_argument('--build', default=os.path.join(os.path.dirname(__file__), '..', 'build'))
    args = ap.parse_args()
    tracker_bin = os.path.join(args.build, 'tracker', 'tracker')
    client_bin = os.path.join(args.build, 'peer', 'client')
    for b in (tracker_bin, client_bin, '/usr/bin/time'):
        if not os.access(b, os.X_OK):
            sys.exit(f'bench: {b} is missing (build first; /usr/bin/time is Debian package "time")')
    work = tempfile.mkdtemp(prefix='gs-bench-')
    procs = []

    class Proc:
        def __init__(self, name, argv, log):
            self.name, self.q = name, queue.Queue()
            self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=open(log, 'w'), text=True, bufsize=1,
                                      start_new_session=True)
            procs.append(self)
            threading.Thread(target=self._read, daemon=True).start()
        def _read(self):
            for line in self.p.stdout:
                self.q.put(line.rstrip('\n'))
        def send(self, line):
            self.p.stdin.write(line + '\n'); self.p.stdin.flush()
        def expect(self, pattern, timeout=120):
            end = time.time() + timeout
            while time.time() < end:
                try:
                    line = self.q.get(timeout=0.05)
                except queue.Empty:
                    continue
                if line.startswith('error: '):
                    raise SystemExit(f'bench: {self.name}: {line}')
                if re.search(pattern, line):
                    return line
            raise SystemExit(f'bench: {self.name}: no line matching {pattern!r} in {timeout} s')
        def do(self, cmd, pattern):
            self.send(cmd)
            return self.expect(pattern)

    try:
        with open(os.path.join(work, 'own.txt'), 'w') as f:
            f.write('127.0.0.1:0\n')
        tracker = Proc('tracker', [tracker_bin, os.path.join(work, 'own.txt'), '1', '--db',
                                   os.path.join(work, 'tracker.db')], os.path.join(work, 'tracker.log'))
        port = tracker.expect(r'listening on').split('listening on ')[1].split()[0]
        info = os.path.join(work, 'tracker_info.txt')
        with open(info, 'w') as f:
            f.write(port + '\n')

        src = os.path.join(work, 'file.bin')
        print(f'generating {args.mib} MiB ...', flush=True)
        with open(src, 'wb') as f:
            block = os.urandom(1 << 20)
            for i in range(args.mib):
                f.write(block[i % 997:] + block[:i % 997])  # every MiB different

        def client(name, wrap=()):
            return Proc(name, list(wrap) + [client_bin, '127.0.0.1:0', info, '--data-dir',
                                            os.path.join(work, name)], os.path.join(work, name + '.log'))
        owner = client('seeder0')
        owner.expect('serving pieces')
        owner.do('create_user seeder0 pw', 'created'); owner.do('login seeder0 pw', 'logged in')
        owner.do('create_group bench', 'created')
        seeders = [owner]
        for i in range(1, args.seeders):
            s = client(f'seeder{i}')
            s.expect('serving pieces')
            s.do(f'create_user seeder{i} pw', 'created'); s.do(f'login seeder{i} pw', 'logged in')
            s.do('join_group bench', 'join request')
            owner.do(f'accept_request bench seeder{i}', 'now a member')
            seeders.append(s)
        for s in seeders:
            s.do(f'upload_file {src} bench', r'^shared ')

        results = []
        for run in range(args.runs):
            name = f'down{run}'
            d = client(name, ['/usr/bin/time', '-v'])
            d.expect('serving pieces')
            d.do(f'create_user {name} pw', 'created'); d.do(f'login {name} pw', 'logged in')
            d.do('join_group bench', 'join request')
            owner.do(f'accept_request bench {name}', 'now a member')
            dest = os.path.join(work, name + '.bin')
            t0 = time.monotonic()
            d.send(f'download_file bench file.bin {dest}')
            d.expect(r'^\[C\] \[bench\] file\.bin', timeout=600)
            secs = time.monotonic() - t0
            d.send('quit')
            d.p.wait(timeout=30)
            log = open(os.path.join(work, name + '.log')).read()
            def field(label):
                m = re.search(re.escape(label) + r':\s*([0-9.:]+)', log)
                return m.group(1) if m else '?'
            cpu = float(field('User time (seconds)')) + float(field('System time (seconds)'))
            rss_mib = int(field('Maximum resident set size (kbytes)')) / 1024
            ok = subprocess.run(['cmp', '-s', src, dest]).returncode == 0
            mbps = args.mib * 1048576 / secs / 1e6
            print(f'run {run + 1}: {secs:.2f} s  {mbps:.1f} MB/s  cpu {cpu:.2f} s  '
                  f'peak RSS {rss_mib:.1f} MiB  bytes {"match" if ok else "DIFFER"}', flush=True)
            if not ok:
                raise SystemExit('bench: downloaded bytes differ')
            os.unlink(dest)
            results.append((secs, mbps, cpu, rss_mib))
        if len(results) > 1:
            results.sort()
            med = results[len(results) // 2]
            print(f'median of {len(results)}: {med[0]:.2f} s  {med[1]:.1f} MB/s  cpu {med[2]:.2f} s  '
                  f'peak RSS {med[3]:.1f} MiB  (min {results[0][0]:.2f} s, max {results[-1][0]:.2f} s)')
    finally:
        for p in procs:
            try:
                os.killpg(p.p.pid, 9)
            except ProcessLookupError:
                pass
        shutil.rmtree(work, ignore_errors=True)

if __name__ == '__main__':
    main()
