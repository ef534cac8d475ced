#!/usr/bin/env python3
"""The fail-over time a client sees (issue 12): two trackers on one throwaway PostgreSQL cluster,
one logged-in client; each round SIGKILLs the tracker the client is using, types `list_groups` at
once, and times from the kill to the `now using` line and to the command's answer; then restarts
the killed tracker on the same port, database and state directory (so its certificate is still the
one the client pins) before the next round. Prints median and worst; writes results.md.

    python3 bench/failover/failover.py [--build build] [--kills 20] [--results FILE]

Loopback only (the cluster listens on a Unix socket in the work directory); every wait has a
deadline; it kills only what it started.
"""
import argparse, os, re, shutil, signal, socket, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchlib import (ROOT, BenchError, Proc, git_rev, log, now, raise_on_signals,  # noqa: E402
                      require_binaries, run_header, loadavg)

PG_CLUSTER = os.path.join(ROOT, 'scripts', 'pg-cluster.sh')
ANSWER = re.compile(r'members=')  # list_groups: "<group>  owner=...  members=N  (you are ...)"
SWITCH = re.compile(r'tracker (\S+) lost; now using (\S+)')


def free_port():
    """A loopback port nothing listens on right now (the tracker binds it with SO_REUSEADDR)."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class Trackers:
    """Tracker 1 and 2 of one tracker_info file, both on the database `uri`, each with its own
    --state-dir; start(i) (re)starts number i on its fixed port."""

    def __init__(self, work, tracker_bin, uri):
        self.work, self.bin, self.uri = work, tracker_bin, uri
        self.ports = [free_port(), free_port()]
        while self.ports[1] == self.ports[0]:
            self.ports[1] = free_port()
        self.addrs = [f'127.0.0.1:{p}' for p in self.ports]
        self.info = os.path.join(work, 'trackers.txt')
        with open(self.info, 'w') as f:
            f.write(''.join(a + '\n' for a in self.addrs))
        self.procs = [None, None]
        self.fingerprints = [None, None]
        self.starts = [0, 0]

    def start(self, i):
        state = os.path.join(self.work, f'state-{i + 1}')
        os.makedirs(state, exist_ok=True)
        self.starts[i] += 1
        p = Proc(f'tracker {i + 1}', [self.bin, self.info, str(i + 1), '--db', self.uri,
                                      '--state-dir', state],
                 os.path.join(self.work, f'tracker-{i + 1}.{self.starts[i]}.log'), cwd=self.work)
        line = p.expect(r'listening on', 30)
        fp = re.search(r'sha256:[0-9a-f]{64}', line)
        if not fp:
            raise BenchError(f'tracker {i + 1} printed no fingerprint: {line!r}')
        if self.fingerprints[i] not in (None, fp.group(0)):
            raise BenchError(f'tracker {i + 1} came back with another certificate')
        self.fingerprints[i] = fp.group(0)
        self.procs[i] = p
        return p

    def index_of(self, addr):
        return self.addrs.index(addr)


def last_using(log_path):
    """The tracker the client's stderr log last says it uses ("using tracker IP:PORT")."""
    found = None
    with open(log_path, errors='replace') as f:
        for line in f:
            m = re.search(r'using tracker (\S+)', line)
            if m:
                found = m.group(1)
    return found


def wait_using(log_path, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        addr = last_using(log_path)
        if addr:
            return addr
        time.sleep(0.02)
    raise BenchError(f'the client never logged "using tracker" (see {log_path})')


def one_round(client, trackers, timeout):
    """Kills the tracker the client uses; returns (from, to, seconds to the `now using` line,
    seconds to the list_groups answer)."""
    victim_addr = last_using(client.log)
    i = trackers.index_of(victim_addr)
    victim = trackers.procs[i]
    t0 = time.monotonic()
    os.killpg(victim.p.pid, signal.SIGKILL)
    client.send('list_groups')
    switched = answered = None
    to = None
    end = t0 + timeout
    while switched is None or answered is None:
        line = client.next_line(end, f'fail-over within {timeout:.0f} s (switch {switched}, '
                                     f'answer {answered})')
        t = time.monotonic() - t0
        m = SWITCH.search(line)
        if m and switched is None:
            switched, to = t, m.group(2)
            if m.group(1) != victim_addr:
                raise BenchError(f'the client left {m.group(1)}, not the killed {victim_addr}')
        elif ANSWER.search(line) and answered is None:
            answered = t
    victim.p.wait(timeout=10)
    return victim_addr, to, switched, answered


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--build', default=os.path.join(ROOT, 'build'))
    ap.add_argument('--kills', type=int, default=20)
    ap.add_argument('--timeout', type=float, default=30, help='seconds per fail-over at most')
    ap.add_argument('--results', default=os.path.join(ROOT, 'bench', 'failover', 'results.md'))
    ap.add_argument('--keep', action='store_true', help='keep the work directory')
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    require_binaries(build, 'failover.py')
    raise_on_signals(lambda s: BenchError(f'stopped by signal {s}'))

    started, load_before = now(), loadavg()
    work = tempfile.mkdtemp(prefix='gs-bench-failover.')
    os.chmod(work, 0o755)  # as root the cluster belongs to `postgres`, in a subdirectory
    pg = os.path.join(work, 'pg')
    pg_up = False
    rounds = []
    try:
        bindir = os.path.join(work, 'bin')
        os.makedirs(bindir)
        tracker_bin = shutil.copy2(os.path.join(build, 'tracker', 'tracker'), bindir)
        client_bin = shutil.copy2(os.path.join(build, 'peer', 'client'), bindir)
        uri = subprocess.run([PG_CLUSTER, 'start', pg], capture_output=True, text=True,
                             timeout=120)
        if uri.returncode != 0:
            raise BenchError(f'pg-cluster.sh start failed: {uri.stderr.strip()}')
        pg_up = True
        uri = uri.stdout.strip()
        log(f'PostgreSQL at {uri}')
        trackers = Trackers(work, tracker_bin, uri)
        trackers.start(0)
        trackers.start(1)
        log(f'trackers {trackers.addrs[0]} and {trackers.addrs[1]}')
        client_info = os.path.join(work, 'client_trackers.txt')
        with open(client_info, 'w') as f:
            for a, fp in zip(trackers.addrs, trackers.fingerprints):
                f.write(f'{a} {fp}\n')
        os.environ['GS_TRACKER_SEED'] = 'file'  # tracker 1 first, then 2
        client = Proc('client', [client_bin, '127.0.0.1:0', client_info, '--data-dir',
                                 os.path.join(work, 'client'), '--verbose'],
                      os.path.join(work, 'client.log'), cwd=work)
        client.expect('serving pieces', 30)
        client.do('create_user fo-user pw', 'created')
        client.do('login fo-user pw', 'logged in')
        client.do('create_group fo-group', 'created')
        client.do('list_groups', ANSWER.pattern)
        wait_using(client.log, 10)
        for k in range(1, args.kills + 1):
            victim, to, switched, answered = one_round(client, trackers, args.timeout)
            rounds.append((victim, to, switched, answered))
            log(f'kill {k}: {victim} -> {to}: now using after {switched * 1000:.1f} ms, '
                f'list_groups answered after {answered * 1000:.1f} ms')
            trackers.start(trackers.index_of(victim))
        try:
            client.finish(10)
        except BenchError:
            pass  # killed below
    finally:
        Proc.kill_all()
        if pg_up:
            subprocess.run([PG_CLUSTER, 'stop', pg, '--discard'], timeout=120,
                           stdout=subprocess.DEVNULL)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f'work directory kept: {work}')

    report(args, started, load_before, rounds)


def ms(x):
    return f'{x * 1000:.1f}'


def report(args, started, load_before, rounds):
    sw = [r[2] for r in rounds]
    an = [r[3] for r in rounds]
    lines = ['# Tracker fail-over as a client sees it (issue 12)', '']
    lines += run_header(started, load_before)
    lines += [
        f'- groupshare {git_rev()}; build `{os.path.relpath(os.path.abspath(args.build), ROOT)}`',
        f'- command: `python3 bench/failover/failover.py --kills {args.kills}`',
        '',
        'Two trackers on one throwaway PostgreSQL 15 cluster (`scripts/pg-cluster.sh`, Unix socket',
        'in the work directory), one client logged in (`GS_TRACKER_SEED=file`, both certificates',
        'pinned). Each round: SIGKILL the tracker the client\'s stderr log says it uses, type',
        '`list_groups` at once, time (monotonic clock of the script) from the kill to the',
        '`tracker A lost; now using B` line and to the first line of the answer; then restart the',
        'killed tracker on its port with the same `--db` and `--state-dir` (same certificate).',
        '',
        f'| {len(rounds)} kills | median ms | worst ms | best ms |',
        '|---|---:|---:|---:|',
        f'| kill → `now using` line | {ms(statistics.median(sw))} | {ms(max(sw))} | {ms(min(sw))} |',
        f'| kill → `list_groups` answered | {ms(statistics.median(an))} | {ms(max(an))} | '
        f'{ms(min(an))} |',
        '',
        '| kill | from | to | now using ms | answered ms |',
        '|---:|---|---|---:|---:|',
    ]
    for k, (victim, to, s, a) in enumerate(rounds, 1):
        lines.append(f'| {k} | {victim} | {to} | {ms(s)} | {ms(a)} |')
    text = '\n'.join(lines) + '\n'
    print(text)
    with open(args.results, 'w') as f:
        f.write(text)
    log(f'written to {args.results}')


if __name__ == '__main__':
    try:
        main()
    except BenchError as e:
        sys.exit(f'failover.py: {e}')
