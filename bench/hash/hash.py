#!/usr/bin/env python3
"""bench/hash: `upload_file` of a generated file in our client against `sha1sum` of the same file,
page cache warm; run by bench/hash/run.sh (which builds first).

    hash.py [--mib 1024] [--runs 3] [--build build] [--timeout S] [--out bench/hash/results.md]

One tracker and one logged-in client stay up; each run shares the file into a new group (the
client hashes it afresh every time). Per run it records: sha1sum's wall seconds (spawn to exit)
and CPU seconds; upload_file's wall seconds from the command to the "shared ..." line, the
"hashed in X s" the client prints, and the client's CPU seconds over the command (all threads,
from /proc). Runs are interleaved (sha1sum, upload_file, sha1sum, ...)."""
import argparse, datetime, os, platform, queue, re, resource, shutil, signal, statistics
import subprocess, sys, tempfile, threading, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, '..', '..'))
FILE_NAME = 'hash.bin'
TICK = os.sysconf('SC_CLK_TCK')


class BenchError(Exception):
    pass


class Proc:
    all = []

    def __init__(self, name, argv, log):
        self.name, self.log, self.q = name, log, queue.Queue()
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=open(log, 'w'), text=True, bufsize=1,
                                  start_new_session=True)
        Proc.all.append(self)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self.q.put(line.rstrip('\n'))
        self.q.put(None)

    def send(self, line):
        self.p.stdin.write(line + '\n')
        self.p.stdin.flush()

    def expect(self, pattern, timeout):
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise BenchError(f'{self.name}: no line matching {pattern!r} within '
                                 f'{timeout:.0f} s (log: {self.log})')
            try:
                line = self.q.get(timeout=min(left, 0.01))
            except queue.Empty:
                continue
            if line is None:
                self.q.put(None)
                raise BenchError(f'{self.name}: exited (status {self.p.wait()}) before a line '
                                 f'matching {pattern!r}')
            if line.startswith('error: '):
                raise BenchError(f'{self.name}: {line}')
            if re.search(pattern, line):
                return line

    def do(self, cmd, pattern, timeout=60):
        self.send(cmd)
        return self.expect(pattern, timeout)

    def cpu_seconds(self):
        """user+sys of every thread so far, from /proc/<pid>/stat."""
        with open(f'/proc/{self.p.pid}/stat') as f:
            fields = f.read().rsplit(')', 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime (fields 14, 15)

    def kill(self):
        try:
            os.killpg(self.p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def generate(path, mib):
    with open(path, 'wb') as f:
        block = os.urandom(1 << 20)
        for i in range(mib):
            # A rotation of one random MiB, stamped with its index: every MiB differs.
            f.write(i.to_bytes(8, 'little') + block[i % 997 + 8:] + block[:i % 997])


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def sha1sum(path, timeout):
    c0 = children_cpu()
    t0 = time.monotonic()
    try:
        out = subprocess.run(['sha1sum', path], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError(f'sha1sum: no exit within {timeout:.0f} s')
    secs = time.monotonic() - t0
    if out.returncode != 0:
        raise BenchError(f'sha1sum failed: {out.stderr.strip()}')
    return secs, children_cpu() - c0


def spread(vals, fmt='{:.2f}'):
    return (fmt.format(statistics.median(vals)), fmt.format(min(vals)), fmt.format(max(vals)))


def machine():
    model, mem = '?', '?'
    with open('/proc/cpuinfo') as f:
        for line in f:
            if line.startswith('model name'):
                model = line.split(':', 1)[1].strip()
                break
    with open('/proc/meminfo') as f:
        for line in f:
            if line.startswith('MemTotal:'):
                mem = f'{int(line.split()[1]) / 1048576:.1f} GiB'
    return model, mem


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--mib', type=int, default=1024)
    ap.add_argument('--runs', type=int, default=3)
    ap.add_argument('--build', default=os.path.join(ROOT, 'build'))
    ap.add_argument('--timeout', type=float, default=0,
                    help='seconds one hashing may take (default 60 + 0.25 per MiB)')
    ap.add_argument('--out', default=os.path.join(HERE, 'results.md'))
    ap.add_argument('--keep', action='store_true', help='keep the work directory (logs) at exit')
    args = ap.parse_args()
    if args.mib < 1 or args.runs < 1:
        sys.exit('hash: bad arguments')
    for b in (os.path.join(args.build, 'tracker', 'tracker'),
              os.path.join(args.build, 'peer', 'client')):
        if not os.access(b, os.X_OK):
            sys.exit(f'hash: {b} is missing (bench/hash/run.sh builds)')
    if not shutil.which('sha1sum'):
        sys.exit('hash: sha1sum (coreutils) is missing')

    def on_signal(signum, _):
        raise SystemExit(f'hash: stopped by signal {signum}')
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, on_signal)

    timeout = args.timeout or 60 + args.mib * 0.25
    started = datetime.datetime.now().astimezone()
    load_before = open('/proc/loadavg').read().split()[:3]
    work = tempfile.mkdtemp(prefix='gs-hash-')
    try:
        rows = run(args, work, timeout)
        fs_type = subprocess.run(['findmnt', '-n', '-o', 'FSTYPE', '--target', work],
                                 capture_output=True, text=True).stdout.strip() or '?'
    except BenchError as e:
        sys.exit(f'hash: {e}')
    finally:
        for p in Proc.all:
            p.kill()
        if args.keep:
            print(f'hash: kept {work}', file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    text = report(args, rows, started, load_before, fs_type)
    print()
    print(text, end='')
    with open(args.out, 'w') as f:
        f.write(text)
    print(f'\n(written to {args.out})')


def run(args, work, timeout):
    bindir = os.path.join(work, 'bin')
    os.makedirs(bindir)
    # Private copies: a rebuild of the shared build/ during the run must not swap binaries.
    for b in ('tracker/tracker', 'peer/client'):
        shutil.copy2(os.path.join(args.build, b), bindir)
    src = os.path.join(work, FILE_NAME)
    print(f'generating {args.mib} MiB ...', flush=True)
    generate(src, args.mib)
    with open(os.path.join(work, 'own.txt'), 'w') as f:
        f.write('127.0.0.1:0\n')
    tracker = Proc('tracker', [os.path.join(bindir, 'tracker'), os.path.join(work, 'own.txt'), '1',
                               '--db', os.path.join(work, 'tracker.db')],
                   os.path.join(work, 'tracker.log'))
    port = tracker.expect(r'listening on', 30).split('listening on ')[1].split()[0]
    info = os.path.join(work, 'tracker_info.txt')
    with open(info, 'w') as f:
        f.write(port + '\n')
    c = Proc('client', [os.path.join(bindir, 'client'), '127.0.0.1:0', info, '--data-dir',
                        os.path.join(work, 'client')], os.path.join(work, 'client.log'))
    c.expect('serving pieces', 30)
    c.do('create_user hasher pw', 'created')
    c.do('login hasher pw', 'logged in')
    # Warm the page cache, as the issue asks (it is warm anyway right after writing).
    subprocess.run(f'cat {src} > /dev/null', shell=True, check=True, timeout=timeout)
    rows = []
    for r in range(1, args.runs + 1):
        s_secs, s_cpu = sha1sum(src, timeout)
        group = f'hash{r}'
        c.do(f'create_group {group}', 'created')
        cpu0 = c.cpu_seconds()
        t0 = time.monotonic()
        c.send(f'upload_file {src} {group}')
        line = c.expect(r'^shared ', timeout)
        u_secs = time.monotonic() - t0
        u_cpu = c.cpu_seconds() - cpu0
        m = re.search(r'hashed in ([0-9.]+) s', line)
        if not m:
            raise BenchError(f'no "hashed in X s" in: {line}')
        hashed = float(m.group(1))
        rows.append(dict(run=r, sha1sum=s_secs, sha1sum_cpu=s_cpu, upload=u_secs, hashed=hashed,
                         upload_cpu=u_cpu))
        print(f'run {r}: sha1sum {s_secs:.2f} s (cpu {s_cpu:.2f} s)  upload_file {u_secs:.2f} s '
              f'(hashed in {hashed:.2f} s, client cpu {u_cpu:.2f} s)  ratio {u_secs / s_secs:.2f}x',
              flush=True)
    return rows


def report(args, rows, started, load_before, fs_type):
    model, mem = machine()
    load_after = open('/proc/loadavg').read().split()[:3]
    try:
        rev = subprocess.run(['git', '-C', ROOT, 'describe', '--always', '--dirty'],
                             capture_output=True, text=True, timeout=20).stdout.strip()
        sha = subprocess.run(['sha1sum', '--version'], capture_output=True, text=True,
                             timeout=20).stdout.splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        rev, sha = '?', 'sha1sum ?'
    med_s = statistics.median(r['sha1sum'] for r in rows)
    mb = args.mib * 1048576 / 1e6

    def row(label, key, cpu_key):
        vals = [r[key] for r in rows]
        m, lo, hi = spread(vals)
        cpu = spread([r[cpu_key] for r in rows])[0] if cpu_key else '—'
        return (f'| {label} | {m} ({lo}–{hi}) | {mb / statistics.median(vals):.0f} | {cpu} | '
                f'{statistics.median(vals) / med_s:.2f}x |')
    ratio = statistics.median(r['upload'] for r in rows) / med_s
    ratio_h = statistics.median(r['hashed'] for r in rows) / med_s
    lines = [
        '# bench/hash results', '',
        f'- date: {started:%Y-%m-%d %H:%M %Z}'.rstrip(),
        f'- machine: `nproc` {len(os.sched_getaffinity(0))}, {model}, {mem} RAM, '
        f'kernel {platform.release()}',
        f'- load average before / after: {" ".join(load_before)} / {" ".join(load_after)}',
        f'- file: {args.mib} MiB on {fs_type}, page cache warm; {args.runs} run(s) each, '
        'interleaved',
        f'- versions: groupshare {rev or "?"}; {sha}',
        '',
        '| measurement | seconds, median (min–max) | MB/s (median) | CPU s (median) | '
        '÷ sha1sum median |',
        '|---|---|---|---|---|',
        row('`sha1sum FILE`', 'sha1sum', 'sha1sum_cpu'),
        row('`upload_file FILE G`: command → `shared` line', 'upload', 'upload_cpu'),
        row('`upload_file`: the client\'s own "hashed in"', 'hashed', None),
        '',
        'CPU s: sha1sum\'s user+sys; for upload_file the client process\'s user+sys (all threads) '
        'over the command.',
        '',
        f'Target from issue #4: upload_file <= 0.3x sha1sum: {ratio:.2f}x measured from the '
        f'command ({"met" if ratio <= 0.3 else "NOT met"}), {ratio_h:.2f}x by the client\'s '
        f'"hashed in" ({"met" if ratio_h <= 0.3 else "NOT met"}).',
        '',
        '### Raw runs', '',
        '| run | sha1sum s | sha1sum CPU s | upload_file s | hashed in s | client CPU s |',
        '|---|---|---|---|---|---|',
    ]
    for r in rows:
        lines.append(f'| {r["run"]} | {r["sha1sum"]:.2f} | {r["sha1sum_cpu"]:.2f} | '
                     f'{r["upload"]:.2f} | {r["hashed"]:.2f} | {r["upload_cpu"]:.2f} |')
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    main()
