#!/usr/bin/env python3
"""Times one groupshare download on 127.0.0.1: a tracker, N seeders sharing a generated file,
and one downloader run under /usr/bin/time -v.

    bench/download.py [--mib 1024] [--seeders 4] [--runs 1] [--build build]

For each run it prints the seconds from the download_file command to the "[C]" line (the file
complete, verified and renamed into place), the throughput, and the downloader's CPU seconds
(user+sys) and peak resident memory as /usr/bin/time -v reports them when the client exits.
The downloader does nothing but this one download; the file is generated once per invocation
(page cache warm for the seeders)."""
import argparse, os, shutil, statistics, subprocess, sys, tempfile

from benchlib import ROOT, BenchError, Groupshare, Proc, generate, require_binaries, time_v


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--mib', type=int, default=1024)
    ap.add_argument('--seeders', type=int, default=4)
    ap.add_argument('--runs', type=int, default=1)
    ap.add_argument('--build', default=os.path.join(ROOT, 'build'))
    args = ap.parse_args()
    require_binaries(args.build, 'bench', ['/usr/bin/time'])
    work = tempfile.mkdtemp(prefix='gs-bench-')
    try:
        run(args, work)
    except BenchError as e:
        sys.exit(f'bench: {e}')
    finally:
        Proc.kill_all()
        shutil.rmtree(work, ignore_errors=True)


def run(args, work):
    gs = Groupshare(args.build, work)
    gs.start_tracker()
    src = os.path.join(work, 'file.bin')
    print(f'generating {args.mib} MiB ...', flush=True)
    generate(src, args.mib)
    owner = gs.member('seeder0', 'seeder0', 'bench')
    seeders = [owner] + [gs.member(f'seeder{i}', f'seeder{i}', 'bench', owner)
                         for i in range(1, args.seeders)]
    for s in seeders:
        s.do(f'upload_file {src} bench', r'^shared ', timeout=120 + args.mib * 0.25)

    results = []
    for run in range(args.runs):
        name = f'down{run}'
        d = gs.member(name, name, 'bench', owner, ['/usr/bin/time', '-v'])
        dest = os.path.join(work, name + '.bin')
        secs = gs.download(d, 'bench', 'file.bin', dest, timeout=600)
        d.send('quit')
        d.finish(30)
        cpu, rss_mib = time_v(d.log)
        ok = subprocess.run(['cmp', '-s', src, dest]).returncode == 0
        mbps = args.mib * 1048576 / secs / 1e6
        print(f'run {run + 1}: {secs:.2f} s  {mbps:.1f} MB/s  cpu {cpu:.2f} s  '
              f'peak RSS {rss_mib:.1f} MiB  bytes {"match" if ok else "DIFFER"}', flush=True)
        if not ok:
            raise BenchError('downloaded bytes differ')
        os.unlink(dest)
        results.append((secs, mbps, cpu, rss_mib))
    if len(results) > 1:
        secs = [r[0] for r in results]
        print(f'median of {len(results)}: {statistics.median(secs):.2f} s  '
              f'{statistics.median(r[1] for r in results):.1f} MB/s  '
              f'cpu {statistics.median(r[2] for r in results):.2f} s  '
              f'peak RSS {statistics.median(r[3] for r in results):.1f} MiB  '
              f'(min {min(secs):.2f} s, max {max(secs):.2f} s)')


if __name__ == '__main__':
    main()
