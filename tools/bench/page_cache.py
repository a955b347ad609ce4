#!/usr/bin/env python3
"""What writing a transcript into the page cache costs, with and without the writer's write-behind
(src/transcript/write_behind.cc: writeback started every MiB, pages 16 MiB behind the end
dropped), on this machine and file system. Writes --mb MB per file in 64 KiB writes, alternating
the two ways, keeping every file until the end as mailtap keeps its transcripts, and prints the
CPU each way costs per MB (user + system of this process, the writer thread's share in mailtap)
and how much the page cache grew.

On a virtual machine whose free memory goes back to the host (a balloon), a page the page cache
takes for the first time costs a fault in the host, so plain writes get several times dearer once
the page cache grows into such memory; write-behind reuses the pages it dropped.

Usage: tools/bench/page_cache.py [--dir DIR] [--mb 300] [--rounds 4]
  --dir must be on the file system the transcripts go to (default: a temporary directory
  under the current directory); everything written is deleted at the end.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import resource
import shutil
import tempfile

CHUNK = 1 << 20  # WriteBehind::kChunk
LAG = 16 << 20   # WriteBehind::kLag
SYNC_FILE_RANGE_WRITE = 2

libc = ctypes.CDLL(None, use_errno=True)
libc.sync_file_range.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def cached_mb() -> float:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("Cached:"):
                return int(line.split()[1]) / 1024
    return 0.0


def write_file(path: str, total: int, write_behind: bool) -> float:
    """CPU milliseconds per MB to write `total` bytes as the writer does."""
    piece = os.urandom(1 << 16)
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_APPEND, 0o600)
    written = started = dropped = 0
    before = cpu_seconds()
    while written < total:
        written += os.write(fd, piece)
        if not write_behind or written - started < CHUNK:
            continue
        libc.sync_file_range(fd, started, written - started, SYNC_FILE_RANGE_WRITE)
        started = written
        if started >= LAG and started - LAG - dropped >= CHUNK:
            os.posix_fadvise(fd, dropped, started - LAG - dropped, os.POSIX_FADV_DONTNEED)
            dropped = started - LAG
    os.close(fd)
    return (cpu_seconds() - before) * 1000 / (total / 1e6)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default=None)
    ap.add_argument("--mb", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="mailtap-page-cache-", dir=args.dir or os.getcwd())
    total = args.mb * 1_000_000
    results: dict[str, list[float]] = {"plain": [], "write-behind": []}
    growth: dict[str, float] = {"plain": 0.0, "write-behind": 0.0}
    try:
        for r in range(args.rounds):
            for way in ("plain", "write-behind"):
                cached = cached_mb()
                ms = write_file(os.path.join(work, f"{way}-{r}"), total, way == "write-behind")
                growth[way] += cached_mb() - cached
                results[way].append(ms)
                print(f"round {r + 1}: {way:12} {ms:5.2f} ms of CPU per MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{args.mb} MB per file, {args.rounds} rounds, files kept until the end")
    print("| way | CPU per MB, each round | page cache grew by |")
    print("|---|---|---|")
    for way, ms in results.items():
        print(f"| {way} | {' / '.join(f'{m:.2f}' for m in ms)} ms | {growth[way]:.0f} MB |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
