#!/usr/bin/env python3
"""bench/scale: how a groupshare download's time grows with the file size and with the number of
seeders, and the downloader's peak memory along the way. Everything runs on 127.0.0.1.

    bench/scale/scale.py [--build build]        (bench/scale/run.sh installs, builds and runs it)

Two sweeps, each point timed like bench/download.py: the seconds from the download_file command to
the "[C]" line (file complete, verified and renamed into place), MB/s (10^6 bytes/s), and the
downloader's CPU seconds (user+sys) and peak resident memory from /usr/bin/time -v. The downloaded
copy is compared with cmp against the source.

  (a) file size 64, 256, 1024, 4096 MiB with 4 seeders;
  (b) 1, 2, 4, 8 seeders with a 1024 MiB file.

One tracker and one set of seeder clients (all members of one group) serve the whole run. A file is
generated once and shared by as many seeders as the point needs; sweep (b) only adds the new
seeders' uploads as it goes from 1 to 8, and sweep (a) starts with the 1 GiB file already shared,
so every seeder hashes each file at most once. Files are deleted as soon as no point needs them;
a point is skipped with a message when the temp dir has not got room for the source and the copy
(2 x size + 2 GiB).

Environment (defaults in brackets):
  SCALE_SIZES [64,256,1024,4096]   sweep (a) sizes in MiB ("" skips the sweep)
  SCALE_SIZE_SEEDERS [4]           seeders for sweep (a)
  SCALE_SEEDERS [1,2,4,8]          sweep (b) seeder counts ("" skips the sweep)
  SCALE_SEEDERS_MIB [1024]         file size for sweep (b)
  SCALE_RUNS [1]                   downloads per point (the tables show medians)
  SCALE_TMPDIR [/var/tmp]          where the work dir (files, logs, client state) goes
  SCALE_OUT [bench/scale]          where results.md and scale.png are written
  SCALE_README [bench/README.md]   gets a "## scale" section with the tables; "0" leaves it alone
  SCALE_MIN_MBPS [5]               deadline of one download: 120 s + size at this rate
  SCALE_KEEP [0]                   1 keeps the work dir (logs) instead of removing it
"""
import argparse, atexit, datetime, os, platform, re, shutil, signal, statistics, subprocess
import sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from benchlib import (ROOT, BenchError, Groupshare, Proc, free_mib, generate, git_rev, log,
                      machine, require_binaries, time_v)

GROUP = 'scale'
MARGIN_MIB = 2048          # free space kept beyond source + copy


def env_list(name, default):
    raw = os.environ.get(name, default)
    try:
        return [int(x) for x in raw.replace(' ', ',').split(',') if x]
    except ValueError:
        sys.exit(f'scale: {name}={raw!r}: expected comma-separated integers')


def env_int(name, default):
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        sys.exit(f'scale: {name} must be an integer')


class Bench:
    def __init__(self, build, work):
        self.work = work
        self.gs = Groupshare(build, work)
        self.seeders = []
        self.files = {}          # mib -> {'path', 'name', 'sharing': set of seeder indices}
        self.downloads = 0
        self.min_mbps = env_int('SCALE_MIN_MBPS', 5)

    def start(self, n_seeders):
        port = self.gs.start_tracker()
        log(f'tracker on {port}; starting {n_seeders} seeder client(s)')
        for i in range(n_seeders):
            owner = self.seeders[0] if self.seeders else None
            self.seeders.append(self.gs.member(f'seeder{i}', f'seeder{i}', GROUP, owner))

    def share(self, mib, k):
        """Makes exactly seeders 0..k-1 share the mib-MiB file (generating it if needed)."""
        f = self.files.get(mib)
        if f is None:
            name = f'file-{mib}MiB.bin'
            path = os.path.join(self.work, name)
            log(f'generating {mib} MiB ...')
            t0 = time.monotonic()
            generate(path, mib)
            log(f'generated in {time.monotonic() - t0:.1f} s')
            f = self.files[mib] = {'path': path, 'name': name, 'sharing': set()}
        for i in sorted(f['sharing'] - set(range(k))):
            self.seeders[i].do(f'stop_share {GROUP} {f["name"]}', 'stopped sharing')
            f['sharing'].discard(i)
            log(f'seeder{i} stops sharing {f["name"]}')
        for i in range(k):
            if i in f['sharing']:
                continue
            line = self.seeders[i].do(f'upload_file {f["path"]} {GROUP}', r'^shared ',
                                      timeout=120 + mib / 20)
            m = re.search(r'hashed in ([0-9.]+) s', line)
            log(f'seeder{i} shares {f["name"]}' + (f' (hashed in {m.group(1)} s)' if m else ''))
            f['sharing'].add(i)

    def release(self, mib):
        f = self.files.pop(mib, None)
        if f is None:
            return
        for i in sorted(f['sharing']):
            self.seeders[i].do(f'stop_share {GROUP} {f["name"]}', 'stopped sharing')
        os.unlink(f['path'])

    def room_for(self, mib):
        """None when the temp dir can hold this point, else the reason to skip it."""
        need = mib + MARGIN_MIB + (0 if mib in self.files else mib)
        have = free_mib(self.work)
        if have < need:
            return (f'only {have / 1024:.1f} GiB free in {os.path.dirname(self.work)}, the point '
                    f'needs about {need / 1024:.1f} GiB (source + downloaded copy + 2 GiB)')
        return None

    def download(self, mib):
        """One download of the mib-MiB file by a fresh client under /usr/bin/time -v."""
        f = self.files[mib]
        self.downloads += 1
        name = f'down{self.downloads}'
        d = self.gs.member(name, name, GROUP, self.seeders[0], ['/usr/bin/time', '-v'])
        dest = os.path.join(self.work, name + '.bin')
        os.sync()    # earlier writes (the generated file, the last copy) do not flush during the run
        sharing = [self.seeders[i] for i in sorted(f['sharing'])]
        seed_cpu0 = sum(s.cpu_seconds() for s in sharing)
        deadline = 120 + mib * 1048576 / (self.min_mbps * 1e6)
        try:
            secs = self.gs.download(d, GROUP, f['name'], dest, deadline)
        except BenchError as e:
            raise BenchError(f'{e} (download of {mib} MiB from {len(sharing)} seeder(s) did not '
                             f'finish at {self.min_mbps} MB/s or more; SCALE_MIN_MBPS sets it)')
        seed_cpu = sum(s.cpu_seconds() for s in sharing) - seed_cpu0
        d.send('quit')
        try:
            d.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            raise BenchError(f'{name}: did not exit within 30 s of quit')
        cpu, rss = time_v(d.log)
        try:
            same = subprocess.run(['cmp', '-s', f['path'], dest], timeout=300).returncode == 0
        except subprocess.TimeoutExpired:
            raise BenchError('cmp of the downloaded copy took more than 300 s')
        if not same:
            raise BenchError(f'{name}: the downloaded copy of {f["name"]} differs from the source')
        os.unlink(dest)
        shutil.rmtree(os.path.join(self.work, name), ignore_errors=True)
        return {'bytes': mib * 1048576, 'secs': secs, 'mbps': mib * 1048576 / secs / 1e6, 'cpu': cpu, 'rss': rss,
                'seed_cpu': seed_cpu}

    def stop(self):
        """quit to every child, 5 s to exit, then SIGKILL to each one's process group."""
        try:
            for p in Proc.all:
                if p.p.poll() is None:
                    try:
                        p.send('quit')
                    except BenchError:
                        pass
            end = time.monotonic() + 5
            for p in Proc.all:
                try:
                    p.p.wait(timeout=max(0.1, end - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
        finally:
            Proc.kill_all()


def summarize(runs):
    if not runs:
        return None
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    med['mbps'] = runs[0]['bytes'] / med['secs'] / 1e6     # consistent with the median seconds
    med['min'] = min(r['secs'] for r in runs)
    med['max'] = max(r['secs'] for r in runs)
    med['n'] = len(runs)
    return med


def table(rows, key_title, key_unit):
    out = [f'| {key_title} | runs | seconds (min–max) | MB/s | downloader CPU s | '
           f'downloader peak RSS MiB | seeders\' CPU s |',
           '|---:|---:|---:|---:|---:|---:|---:|']
    for key, s, skipped in rows:
        if s is None:
            out.append(f'| {key}{key_unit} | – | skipped: {skipped} | | | | |')
            continue
        span = f' ({s["min"]:.2f}–{s["max"]:.2f})' if s['n'] > 1 else ''
        out.append(f'| {key}{key_unit} | {s["n"]} | {s["secs"]:.2f}{span} | {s["mbps"]:.0f} | '
                   f'{s["cpu"]:.2f} | {s["rss"]:.1f} | {s["seed_cpu"]:.2f} |')
    return '\n'.join(out)


def write_plot(out_png, work, size_rows, seed_rows, size_seeders, seeders_mib):
    if not shutil.which('gnuplot'):
        log('gnuplot is missing (Debian package gnuplot-nox): no plot')
        return False
    sz = [(k, s) for k, s, _ in size_rows if s]
    sd = [(k, s) for k, s, _ in seed_rows if s]
    if not sz and not sd:
        return False
    dat = {'a': os.path.join(work, 'size.dat'), 'b': os.path.join(work, 'seeders.dat')}
    for sweep, rows in (('a', sz), ('b', sd)):
        with open(dat[sweep], 'w') as f:
            for k, s in rows:
                f.write(f'{k} {s["secs"]:.3f} {s["mbps"]:.1f} {s["rss"]:.2f} {s["cpu"]:.3f}\n')

    def x_range(rows, margin):
        return f'{min(k for k, _ in rows) / margin}:{max(k for k, _ in rows) * margin}' if rows \
            else '1:2'
    xa, xb = x_range(sz, 1.5), x_range(sd, 1.3)

    # Columns of the .dat files, each with its point style, colour and title.
    secs = (2, 'pt 7 lc rgb "#7b2fbe"', 'seconds')
    mbps = (3, 'pt 5 lc rgb "#009e73"', 'MB/s')
    rss = (4, 'pt 7 lc rgb "#0072b2"', 'peak RSS (MiB)')
    cpu = (5, 'pt 5 lc rgb "#e69f00"', 'downloader CPU s')

    def panel(sweep, title, ylabel, y2label, left, right, target=False):
        """One of the four graphs: `left` on the y axis, `right` on y2 (an empty slot when the
        sweep has no data)."""
        if sweep == 'a':
            x = f'set xtics auto\nset xlabel "file size (MiB)"\nset xrange [{xa}]\n'
        else:
            x = f'set xtics (1, 2, 4, 8)\nset xlabel "seeders"\nset xrange [{xb}]\n'
        settings = f'\n{x}set title "{title}"\nset ylabel "{ylabel}"\nset y2label "{y2label}"\n'
        if not (sz if sweep == 'a' else sd):
            return settings + 'set multiplot next\n'
        curves = [f'"{dat[sweep]}" using 1:{left[0]} with linespoints lw 2 {left[1]} '
                  f'title "{left[2]}"']
        if target:
            curves.append('32 with lines dt 2 lc rgb "red" title "target 32 MiB"')
        curves.append(f'"{dat[sweep]}" using 1:{right[0]} axes x1y2 with linespoints lw 2 '
                      f'{right[1]} title "{right[2]}"')
        return settings + 'plot ' + ', '.join(curves) + '\n'

    script = f'''
set terminal pngcairo size 1400,1000 font "sans,11"
set output "{out_png}"
set multiplot layout 2,2 title "groupshare download on 127.0.0.1 ({os.cpu_count()} cores)"
set grid
set key top left opaque box
set logscale x 2
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
'''
    script += panel('a', f'(a) time and throughput vs file size, {size_seeders} seeders',
                    'seconds', 'MB/s', secs, mbps)
    script += panel('b', f'(b) throughput and time vs seeders, {seeders_mib} MiB file',
                    'MB/s', 'seconds', mbps, secs)
    script += panel('a', '(a) downloader peak RSS and CPU vs file size', 'MiB', 'CPU seconds',
                    rss, cpu, target=True)
    script += panel('b', '(b) downloader peak RSS and CPU vs seeders', 'MiB', 'CPU seconds',
                    rss, cpu, target=True)
    script += 'unset multiplot\n'
    gp = os.path.join(work, 'scale.gp')
    with open(gp, 'w') as f:
        f.write(script)
    try:
        r = subprocess.run(['gnuplot', gp], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        log('gnuplot took more than 60 s: no plot')
        return False
    if r.returncode != 0:
        log(f'gnuplot failed: {r.stderr.strip()}')
        return False
    return True


def update_readme(readme, section):
    """Replaces (or appends) only the '## scale' section; reads the file right before writing."""
    try:
        with open(readme) as f:
            text = f.read()
    except FileNotFoundError:
        text = '# Benchmarks\n'
    m = re.search(r'^## scale[ \t]*\n', text, re.M)
    if m:
        nxt = re.search(r'^## ', text[m.end():], re.M)
        end = m.end() + nxt.start() if nxt else len(text)
        text = text[:m.start()] + section + ('\n' if nxt else '') + text[end:]
    else:
        text = text.rstrip('\n') + '\n\n' + section
    tmp = readme + '.scale-tmp'
    with open(tmp, 'w') as f:
        f.write(text)
    os.replace(tmp, readme)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--build', default=os.path.join(ROOT, 'build'))
    args = ap.parse_args()
    sizes = env_list('SCALE_SIZES', '64,256,1024,4096')
    size_seeders = env_int('SCALE_SIZE_SEEDERS', 4)
    seeder_counts = env_list('SCALE_SEEDERS', '1,2,4,8')
    seeders_mib = env_int('SCALE_SEEDERS_MIB', 1024)
    runs = env_int('SCALE_RUNS', 1)
    tmpdir = os.environ.get('SCALE_TMPDIR', '/var/tmp')
    out_dir = os.environ.get('SCALE_OUT', HERE)
    readme = os.environ.get('SCALE_README', os.path.join(ROOT, 'bench', 'README.md'))
    keep = os.environ.get('SCALE_KEEP', '0') == '1'
    if runs < 1 or min(sizes + seeder_counts + [size_seeders, seeders_mib], default=1) < 1:
        sys.exit('scale: sizes, seeder counts and runs must be at least 1')
    require_binaries(args.build, 'scale', ['/usr/bin/time'])
    os.makedirs(out_dir, exist_ok=True)

    # Plan: sweep (b) first, seeders ascending (each step only adds uploads); then sweep (a) with
    # the sweep-(b) file first if it is one of the sizes (already hashed by the seeders).
    seeder_counts = sorted(set(seeder_counts))
    sizes = sorted(set(sizes))
    size_order = ([seeders_mib] if seeders_mib in sizes and seeder_counts else []) + \
                 [m for m in sizes if not (m == seeders_mib and seeder_counts)]
    plan = [('b', seeders_mib, k) for k in seeder_counts] + [('a', m, size_seeders) for m in size_order]
    n_seeders = max([k for _, _, k in plan], default=0)
    if not plan:
        sys.exit('scale: nothing to do (SCALE_SIZES and SCALE_SEEDERS are both empty)')

    work = tempfile.mkdtemp(prefix='gs-scale-', dir=tmpdir)
    bench = None
    atexit.register(Proc.kill_all)
    atexit.register(lambda: keep or shutil.rmtree(work, ignore_errors=True))

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f'signal {signum}')
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    results = {}     # (sweep, mib, k) -> summary or None
    skipped = {}     # (sweep, mib, k) -> reason
    started = datetime.datetime.now()
    failed = None
    try:
        log(f'work dir {work}: {free_mib(work) / 1024:.1f} GiB free; {len(plan)} point(s), '
            f'{runs} run(s) each')
        bench = Bench(args.build, work)
        bench.start(n_seeders)
        for idx, (sweep, mib, k) in enumerate(plan):
            label = f'({sweep}) {mib} MiB, {k} seeder(s)'
            reason = bench.room_for(mib)
            if reason:
                log(f'SKIPPING {label}: {reason}')
                skipped[(sweep, mib, k)] = reason
                results[(sweep, mib, k)] = None
            else:
                bench.share(mib, k)
                point = []
                for r in range(runs):
                    res = bench.download(mib)
                    log(f'{label} run {r + 1}/{runs}: {res["secs"]:.2f} s  {res["mbps"]:.0f} MB/s  '
                        f'cpu {res["cpu"]:.2f} s  peak RSS {res["rss"]:.1f} MiB  '
                        f'seeders cpu {res["seed_cpu"]:.2f} s')
                    point.append(res)
                results[(sweep, mib, k)] = summarize(point)
            if all(m != mib for _, m, _ in plan[idx + 1:]):
                bench.release(mib)
    except BenchError as e:
        failed = str(e)
        log(f'scale: FAILED: {e}')
    except KeyboardInterrupt as e:
        failed = f'interrupted ({e})' if str(e) else 'interrupted'
        log(f'scale: {failed}')
    finally:
        if bench:
            bench.stop()
    finished = datetime.datetime.now()

    try:
        size_rows = [(m, results[('a', m, size_seeders)], skipped.get(('a', m, size_seeders)))
                     for m in sizes if ('a', m, size_seeders) in results]
        seed_rows = [(k, results[('b', seeders_mib, k)], skipped.get(('b', seeders_mib, k)))
                     for k in seeder_counts if ('b', seeders_mib, k) in results]
        if not size_rows and not seed_rows:
            raise SystemExit(f'scale: no results ({failed or "nothing measured"})')
        model, mem = machine()
        header = (f'{started:%Y-%m-%d %H:%M}–{finished:%H:%M} on {platform.node()}: '
                  f'{os.cpu_count()} cores ({model}), {mem} RAM, Linux '
                  f'{platform.release()}; groupshare {git_rev()}. All processes on 127.0.0.1; '
                  f'median of {runs} run(s) per point; MB/s = 10^6 bytes/s; the seeders\' page '
                  f'cache is warm. "seeders\' CPU s" is the user+sys the sharing seeders used '
                  f'during the download.')
        if failed:
            header += f'\n\n**Incomplete run**: {failed}'
        tables = ''
        if size_rows:
            tables += (f'### (a) file size, {size_seeders} seeders\n\n'
                       + table(size_rows, 'file size', ' MiB') + '\n\n')
        if seed_rows:
            tables += (f'### (b) seeders, {seeders_mib} MiB file\n\n'
                       + table(seed_rows, 'seeders', '') + '\n\n')
        png = os.path.join(out_dir, 'scale.png')
        plotted = write_plot(png, work, size_rows, seed_rows, size_seeders, seeders_mib)
        md = ('# bench/scale results\n\n' + header + '\n\n' + tables
              + ('![scale](scale.png)\n' if plotted else '(no plot: gnuplot missing or failed)\n'))
        with open(os.path.join(out_dir, 'results.md'), 'w') as f:
            f.write(md)
        log(f'wrote {os.path.join(out_dir, "results.md")}' + (f' and {png}' if plotted else ''))
        print('\n' + tables.rstrip(), flush=True)
        if readme and readme != '0':
            section = (
                '## scale\n\n'
                'How the download time grows with the file size and with the number of seeders, '
                'and the downloader\'s peak memory along the way (issue #4, benchmark 4).\n\n'
                '```bash\n'
                'bench/scale/run.sh                                # full run (~10 GiB free in /var/tmp)\n'
                'SCALE_RUNS=3 bench/scale/run.sh                   # median of 3 per point\n'
                'SCALE_SIZES=64 SCALE_SEEDERS= bench/scale/run.sh  # one quick point\n'
                '```\n\n'
                '- `run.sh` (root or sudo, Debian 12) installs what is missing with apt-get '
                '(build dependencies, `gnuplot-nox`, `time`), builds with `scripts/build.sh` '
                '(`SCALE_NO_BUILD=1` skips it) and runs `scale.py` under `/usr/bin/python3`.\n'
                '- Sweeps: (a) 64, 256, 1024, 4096 MiB with 4 seeders (`SCALE_SIZES`, '
                '`SCALE_SIZE_SEEDERS`); (b) 1, 2, 4, 8 seeders with 1 GiB (`SCALE_SEEDERS`, '
                '`SCALE_SEEDERS_MIB`). `SCALE_RUNS` (default 1) downloads per point, median shown.\n'
                '- Each point: seconds from `download_file` to the `[C]` line, MB/s (10^6 B/s), '
                'the downloader\'s CPU seconds and peak RSS from `/usr/bin/time -v`, the seeders\' '
                'CPU during the download; the copy is checked with `cmp`.\n'
                '- One tracker and one set of seeders (one group) serve the whole run; every seeder '
                'hashes each file once; the binaries are copied first, so a rebuild meanwhile '
                'does not mix versions. Files live in a temp dir under `SCALE_TMPDIR` (default '
                '`/var/tmp`) and go as soon as their points are done; a point is skipped with a '
                'message when there is no room for the source, the copy and 2 GiB (10 GiB for '
                'the 4 GiB point).\n'
                '- Output: `bench/scale/results.md` (tables, machine) and `bench/scale/scale.png` '
                '(time and MB/s vs size, MB/s vs seeders, peak RSS and CPU of both sweeps).\n\n'
                'Latest run: ' + header.replace('\n\n', ' ') + '\n\n'
                + tables.replace('### ', '#### ')).rstrip('\n') + '\n'
            update_readme(readme, section)
            log(f'updated the "## scale" section of {readme}')
    finally:
        if keep:
            log(f'kept {work}')
        else:
            shutil.rmtree(work, ignore_errors=True)
    if failed:
        sys.exit(1)


if __name__ == '__main__':
    main()
