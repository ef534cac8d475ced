"""The pieces the benchmark scripts share (bench/download.py, bench/hash, bench/scale, bench/swarm,
bench/attack; tests/fuzz/make_corpus.py takes its bencoding from here). Loopback only; every wait
has a deadline.

- BenchError: what a benchmark reports in one line when a step fails.
- Proc: a child process driven line by line through stdin/stdout, in its own process group;
  Proc.all lists every one started, so a script can kill them all at the end.
- Groupshare: our tracker on 127.0.0.1:0 and its clients under one work directory, from private
  copies of the binaries; member() makes a logged-in account in a group, download() times one
  download to its "[C]" line.
- generate, warm: test files (every 512 KiB piece differs) and a warm page cache.
- time_v, cpu model, git revision, load average, file system: what a report says about a run.
- benc / bdec: BEP 3 bencoding.

Scripts in a subdirectory of bench/ import it after putting bench/ on sys.path.
"""
import datetime, os, platform, queue, re, resource, shutil, signal, struct, subprocess, sys
import threading, time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)


class BenchError(Exception):
    pass


def log(msg):
    print(f'[{time.strftime("%H:%M:%S")}] {msg}', flush=True)


def tail(path, n=8):
    try:
        with open(path, errors='replace') as f:
            return ''.join(f.readlines()[-n:])
    except OSError:
        return ''


# ---- processes ---------------------------------------------------------------------------

class Proc:
    """A child in its own process group (killing it also kills what it started, such as
    /usr/bin/time's child), its stdout read line by line into a queue, its stderr in `log`."""
    all = []

    def __init__(self, name, argv, log, stdin=True, user=None, cwd=None):
        self.name, self.log, self.q = name, log, queue.Queue()
        if user:
            argv = ['setpriv', f'--reuid={user}', f'--regid={user}', '--init-groups'] + argv
        with open(log, 'w') as err:
            self.p = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, stderr=err, text=True, bufsize=1,
                                      cwd=cwd, start_new_session=True)
        Proc.all.append(self)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self.q.put(line.rstrip('\n'))
        self.q.put(None)

    def send(self, line):
        try:
            self.p.stdin.write(line + '\n')
            self.p.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            raise BenchError(f'{self.name}: cannot send {line!r}: {e} (exited with '
                             f'{self.p.poll()}; see {self.log})')

    def next_line(self, end, what):
        """The next stdout line; BenchError on an "error: " line, at exit or once the monotonic
        clock passes `end` (`what` names the line awaited in the message)."""
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise BenchError(f'{self.name}: no {what} by the deadline (log: {self.log})')
            try:
                line = self.q.get(timeout=min(left, 0.05))
            except queue.Empty:
                continue
            if line is None:
                self.q.put(None)
                raise BenchError(f'{self.name}: exited (status {self.p.wait()}) before {what}; '
                                 f'last lines of {self.log}:\n' + tail(self.log))
            if line.startswith('error: '):
                raise BenchError(f'{self.name}: {line}')
            return line

    def expect(self, pattern, timeout):
        """The next stdout line matching `pattern`; BenchError on an "error: " line, at exit or
        after `timeout` seconds."""
        end = time.monotonic() + timeout
        what = f'line matching {pattern!r} within {timeout:.0f} s'
        while True:
            line = self.next_line(end, what)
            if re.search(pattern, line):
                return line

    def do(self, cmd, pattern, timeout=60):
        self.send(cmd)
        return self.expect(pattern, timeout)

    def finish(self, timeout):
        """Closes stdin and waits for the exit status."""
        try:
            self.p.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        try:
            return self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise BenchError(f'{self.name}: did not exit within {timeout} s after its last command')

    def cpu_seconds(self):
        """user+sys of every thread so far (from /proc), 0 when the process is gone."""
        try:
            with open(f'/proc/{self.p.pid}/stat') as f:
                fields = f.read().rsplit(')', 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')
        except (OSError, IndexError, ValueError):
            return 0.0

    def kill(self):
        try:
            os.killpg(self.p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    @staticmethod
    def kill_all():
        for p in Proc.all:
            p.kill()


def raise_on_signals(make_error):
    """SIGTERM, SIGINT and SIGHUP raise make_error(signum) in the main thread, so that `finally`
    blocks stop the children."""
    def handler(signum, _frame):
        raise make_error(signum)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, handler)


def children_cpu():
    """user+sys of the children waited for so far."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


# ---- groupshare --------------------------------------------------------------------------

def require_binaries(build, prog, extra=()):
    """Exits with a message naming what is missing: the tracker and client in `build`, and
    `extra` (absolute paths)."""
    for b in [os.path.join(build, 'tracker', 'tracker'), os.path.join(build, 'peer', 'client')] \
            + list(extra):
        if not os.access(b, os.X_OK):
            sys.exit(f'{prog}: {b} is missing (build first; bench/*/run.sh installs and builds)')


class Groupshare:
    """Our tracker on 127.0.0.1:0 and its clients, state under `work`, logs under `logs`. The
    binaries are private copies: a rebuild of build/ during the run cannot swap them."""

    def __init__(self, build, work, logs=None):
        self.work, self.logs = work, logs or work
        bindir = os.path.join(work, 'bin')
        os.makedirs(bindir)
        self.tracker_bin = shutil.copy2(os.path.join(build, 'tracker', 'tracker'), bindir)
        self.client_bin = shutil.copy2(os.path.join(build, 'peer', 'client'), bindir)
        self.info = os.path.join(work, 'tracker_info.txt')
        self.tracker = None

    def start_tracker(self):
        """Starts the tracker; returns its "IP:PORT"."""
        own = os.path.join(self.work, 'own.txt')
        with open(own, 'w') as f:
            f.write('127.0.0.1:0\n')
        self.tracker = Proc('tracker', [self.tracker_bin, own, '1', '--db',
                                        os.path.join(self.work, 'tracker.db')],
                            os.path.join(self.logs, 'tracker.log'), cwd=self.work)
        port = self.tracker.expect(r'listening on', 30).split('listening on ')[1].split()[0]
        with open(self.info, 'w') as f:
            f.write(port + '\n')
        return port

    def client(self, name, wrap=(), args=()):
        """A client serving on 127.0.0.1:0, data in work/<name>, stderr in logs/<name>.log;
        `wrap` goes before it on the command line (e.g. /usr/bin/time -v), `args` after it (e.g.
        --plain-peer-wire)."""
        return Proc(name, list(wrap) + [self.client_bin, '127.0.0.1:0', self.info, '--data-dir',
                                        os.path.join(self.work, name), '--verbose'] + list(args),
                    os.path.join(self.logs, name + '.log'), cwd=self.work)

    def member(self, name, user, group=None, owner=None, wrap=(), args=()):
        """A new client logged in as the new account `user` (password "pw"); with `group`, in it:
        it creates the group when there is no `owner`, else asks to join and `owner` accepts."""
        c = self.client(name, wrap, args)
        c.expect('serving pieces', 30)
        c.do(f'create_user {user} pw', 'created')
        c.do(f'login {user} pw', 'logged in')
        if group is not None and owner is None:
            c.do(f'create_group {group}', 'created')
        elif group is not None:
            c.do(f'join_group {group}', 'join request')
            owner.do(f'accept_request {group} {user}', 'now a member')
        return c

    @staticmethod
    def download(d, group, file_name, dest, timeout):
        """Seconds from `download_file` to the "[C]" line (complete, verified, renamed)."""
        t0 = time.monotonic()
        d.send(f'download_file {group} {file_name} {dest}')
        d.expect(r'^\[C\] \[' + re.escape(group) + r'\] ' + re.escape(file_name), timeout)
        return time.monotonic() - t0


# ---- files -------------------------------------------------------------------------------

def generate(path, mib):
    """`mib` MiB from one random 1 MiB block; every 512 KiB piece differs (its MiB index and half
    are stamped at its start), so no two pieces of the file hash alike."""
    block = bytearray(os.urandom(1 << 20))
    salt = os.urandom(8)
    with open(path, 'wb') as f:
        for i in range(mib):
            block[0:24] = struct.pack('<QQ', i, 0) + salt
            block[524288:524312] = struct.pack('<QQ', i, 1) + salt
            f.write(block)


def warm(path):
    with open(path, 'rb') as f:
        while f.read(1 << 22):
            pass


def free_mib(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize // (1 << 20)


# ---- reports -----------------------------------------------------------------------------

def time_v(path):
    """(CPU seconds user+sys, peak RSS MiB) from what /usr/bin/time -v wrote to `path`."""
    try:
        with open(path, errors='replace') as f:
            text = f.read()
    except OSError:
        raise BenchError(f'/usr/bin/time wrote no report to {path}')

    def field(label):
        m = re.search(re.escape(label) + r':\s*([0-9.]+)', text)
        if not m:
            raise BenchError(f'no "{label}" in {path} (/usr/bin/time -v output)')
        return float(m.group(1))
    return (field('User time (seconds)') + field('System time (seconds)'),
            field('Maximum resident set size (kbytes)') / 1024)


def machine():
    """(CPU model, RAM as "N.N GiB")."""
    model, mem = platform.processor() or '?', '?'
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    model = line.split(':', 1)[1].strip()
                    break
        with open('/proc/meminfo') as f:
            for line in f:
                if line.startswith('MemTotal:'):
                    mem = f'{int(line.split()[1]) / 1048576:.1f} GiB'
    except OSError:
        pass
    return model, mem


def loadavg():
    with open('/proc/loadavg') as f:
        return f.read().split()[:3]


def run_text(argv, timeout=20):
    """A command's stdout, stripped; '?' when it cannot run."""
    try:
        return subprocess.run(argv, capture_output=True, text=True,
                              timeout=timeout).stdout.strip() or '?'
    except (OSError, subprocess.TimeoutExpired):
        return '?'


def git_rev():
    return run_text(['git', '-C', ROOT, 'describe', '--always', '--dirty'])


def fs_type(path):
    return run_text(['findmnt', '-n', '-o', 'FSTYPE', '--target', path])


def run_header(started, load_before):
    """The report lines every benchmark starts with: date, machine, load average."""
    model, mem = machine()
    return [
        f'- date: {started:%Y-%m-%d %H:%M %Z}'.rstrip(),
        f'- machine: `nproc` {len(os.sched_getaffinity(0))}, {model}, {mem} RAM, '
        f'kernel {platform.release()}',
        f'- load average before / after: {" ".join(load_before)} / {" ".join(loadavg())}',
    ]


def now():
    return datetime.datetime.now().astimezone()


# ---- bencoding ---------------------------------------------------------------------------

def benc(v):
    """BEP 3 bencoding; dict keys sorted, booleans as 0/1."""
    if isinstance(v, bool):
        v = int(v)
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, (list, tuple)):
        return b"l" + b"".join(benc(x) for x in v) + b"e"
    if isinstance(v, dict):
        items = sorted((k.encode() if isinstance(k, str) else k, x) for k, x in v.items())
        return b"d" + b"".join(benc(k) + benc(x) for k, x in items) + b"e"
    raise TypeError(f"cannot bencode {type(v).__name__}")


def bdec(data):
    """Decodes one bencoded value; dict keys become str, strings stay bytes."""
    def at(i):
        c = data[i:i + 1]
        if c == b"i":
            end = data.index(b"e", i)
            return int(data[i + 1:end]), end + 1
        if c == b"l":
            out, i = [], i + 1
            while data[i:i + 1] != b"e":
                v, i = at(i)
                out.append(v)
            return out, i + 1
        if c == b"d":
            out, i = {}, i + 1
            while data[i:i + 1] != b"e":
                k, i = at(i)
                out[k.decode(errors="replace")], i = at(i)
            return out, i + 1
        colon = data.index(b":", i)
        n = int(data[i:colon])
        return data[colon + 1:colon + 1 + n], colon + 1 + n
    value, _ = at(0)
    return value


def frame(body):
    """One frame of the tracker protocol (docs/protocol.md §1.1): 4-byte big-endian length."""
    return struct.pack(">I", len(body)) + body
