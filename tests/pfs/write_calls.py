#!/usr/bin/env python3
"""The data phase as a parallel file system sees it: each rank's write calls into the
result file, counted with strace under mpirun, for `simulate` runs of several sizes.

Checks, per run: every rank makes at most a few write calls per checkpoint in the data
phase, plus one per piece of its collective buffer it fills (an MPI-IO aggregator writes
its file domain in pieces of `cb_buffer_size`, or of half of it where OMPIO double-buffers:
2 MiB with the library's default of 4 MiB), the same for 1,000 as for 10,000 cells
holding the same bytes (independent of the number of objects: the 1,000 cells record ten
times longer), no 4 KiB block is written by two ranks, and the file reads back
(`bsb-results inspect`).

The data phase of a rank starts where our code checks that it can open the file for
writing (an `openat` of the file with exactly O_WRONLY|O_CLOEXEC; the file is created with
O_CREAT); from there, every write, pwrite64 or pwritev on a descriptor of that file opened
from there on counts. Rank 0's layout writes the metadata meanwhile, through the
descriptor it opened before: those writes are counted apart, and no 4 KiB block may hold
both metadata and data.

usage: write_calls.py --bin target/release/bsb-results --ranks 2 4 --cells 1000 10000
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", RUST_BACKTRACE="0")
#: Calls a rank may make per checkpoint besides one per collective buffer it writes (a few
#: runs of a rank's data are allowed where metadata splits them).
MAX_CALLS_PER_CHECKPOINT = 4
#: The piece of its collective buffer an aggregator writes per call (half of the library's
#: default `cb_buffer_size`: OMPIO double-buffers).
CB_PIECE = 2 << 20
BLOCK = 4096
OPEN = re.compile(r'^\d+ +openat\(AT_FDCWD, "([^"]+)", ([A-Z_|]+)[^)]*\)\s+=\s+(\d+)')
CLOSE = re.compile(r"^\d+ +close\((\d+)\)")
PWRITE = re.compile(r"^\d+ +pwrite64\((\d+), .*, (\d+), (\d+)\)\s+=\s+(\d+)")
PWRITEV = re.compile(r"^\d+ +pwritev2?\((\d+), .*, \d+, (\d+)(?:, \d+)?\)\s+=\s+(\d+)")
WRITE = re.compile(r"^\d+ +write\((\d+), .*\)\s+=\s+(\d+)")


UNFINISHED = re.compile(r"^(\d+) +(.*) <unfinished \.\.\.>$")
RESUMED = re.compile(r"^(\d+) +<\.\.\. \w+ resumed>(.*)$")


def calls(trace):
    """The lines of an strace -f trace, one per call: a call another thread interrupted
    (`<unfinished ...>`, later `<... resumed>`) joined into one line."""
    pending = {}
    with open(trace, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if m := UNFINISHED.match(line):
                pending[m.group(1)] = m.group(2)
            elif m := RESUMED.match(line):
                yield f"{m.group(1)} {pending.pop(m.group(1), '')}{m.group(2)}"
            else:
                yield line


def data_writes(trace, target):
    """`(offset, bytes)` of every data-phase write into `target` in one rank's trace
    (offset None for a plain write), and of every other write into it (the layout's)."""
    fds, started, writes, others = {}, False, [], []
    for line in calls(trace):
        if m := OPEN.match(line):
            path, flags, fd = m.group(1), m.group(2), int(m.group(3))
            if re.fullmatch(re.escape(target) + r"\.[0-9a-f]+\.partial", os.path.basename(path)):
                started = started or flags == "O_WRONLY|O_CLOEXEC"
                fds[fd] = started
            else:
                fds.pop(fd, None)
        elif m := CLOSE.match(line):
            fds.pop(int(m.group(1)), None)
        elif m := PWRITE.match(line):
            if int(m.group(1)) in fds:
                (writes if fds[int(m.group(1))] else others).append((int(m.group(3)), int(m.group(4))))
        elif m := PWRITEV.match(line):
            if int(m.group(1)) in fds:
                (writes if fds[int(m.group(1))] else others).append((int(m.group(2)), int(m.group(3))))
        elif m := WRITE.match(line):
            if int(m.group(1)) in fds:
                (writes if fds[int(m.group(1))] else others).append((None, int(m.group(2))))
    return writes, others


def blocks(writes):
    """The 4 KiB blocks `(offset, bytes)` writes touch."""
    return {b for offset, size in writes if offset is not None for b in range(offset // BLOCK, (offset + max(size, 1) - 1) // BLOCK + 1)}


def run(binary, ranks, cells, duration_ms, checkpoints, io, work):
    out = os.path.join(work, f"run{ranks}_{cells}_{io}.nio")
    traces = os.path.join(work, f"trace{ranks}_{cells}_{io}")
    cmd = [
        "mpirun", "--oversubscribe", "-n", str(ranks), "sh", "-c",
        f'exec strace -f -qq -s 0 -e trace=openat,close,write,pwrite64,pwritev,pwritev2 -o {traces}.$OMPI_COMM_WORLD_RANK "$@"', "sh",
        binary, "simulate", "--cells", str(cells), "--voltage-cells", str(cells // 10), "--duration-ms", str(duration_ms),
        "--checkpoints", str(checkpoints), "--io", io, "--quiet", "--out", out,
    ]
    subprocess.run(cmd, env=ENV, check=True, capture_output=True, timeout=900)
    subprocess.run([binary, "inspect", out], env=ENV, check=True, capture_output=True, timeout=300)
    target = "." + os.path.basename(out)
    return [data_writes(f"{traces}.{r}", target) for r in range(ranks)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--ranks", type=int, nargs="+", default=[2, 4])
    ap.add_argument("--cells", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--checkpoints", type=int, default=2)
    args = ap.parse_args()
    problems = []
    with tempfile.TemporaryDirectory() as work:
        for ranks in args.ranks:
            counts = {}
            for cells in args.cells:
                # the same bytes for every cell count: fewer cells record longer
                duration = 200 * max(args.cells) // cells
                traced = run(os.path.abspath(args.bin), ranks, cells, duration, args.checkpoints, "collective", work)
                writes = [w for w, _ in traced]
                metadata = [m for _, m in traced]
                calls = [len(w) for w in writes]
                counts[cells] = calls
                owners = {}
                for rank, w in enumerate(writes):
                    for offset, size in w:
                        if offset is None:
                            problems.append(f"-n {ranks}, {cells} cells: rank {rank} wrote without an offset")
                            continue
                        for block in range(offset // BLOCK, (offset + max(size, 1) - 1) // BLOCK + 1):
                            owners.setdefault(block, set()).add(rank)
                shared = sorted(b for b, o in owners.items() if len(o) > 1)
                mixed = sorted(blocks(w for m in metadata for w in m) & set(owners))
                print(f"-n {ranks}, {cells} cells, {args.checkpoints} checkpoints: data-phase write calls by rank {calls}, "
                      f"{sum(s for w in writes for _, s in w)} bytes, blocks written by two ranks: {len(shared)}; "
                      f"rank 0's layout meanwhile: {len(metadata[0])} write calls, blocks holding metadata and data: {len(mixed)}", flush=True)
                if mixed:
                    problems.append(f"-n {ranks}, {cells} cells: 4 KiB blocks {mixed[:5]}... hold metadata and data")
                for rank, w in enumerate(writes):
                    buffers = -(-sum(s for _, s in w) // CB_PIECE)
                    if len(w) > MAX_CALLS_PER_CHECKPOINT * args.checkpoints + buffers:
                        problems.append(f"-n {ranks}, {cells} cells: {len(w)} write calls on rank {rank} "
                                        f"({buffers} buffer pieces of data)")
                if shared:
                    problems.append(f"-n {ranks}, {cells} cells: 4 KiB blocks {shared[:5]}... written by two ranks")
            small, large = min(counts), max(counts)
            # ten times the objects in the same bytes: at most two more calls per checkpoint
            # (a rank's extent of spike trains and its extent of signals may each split once
            # more where the aggregators' domains fall differently)
            if max(counts[large]) > max(counts[small]) + 2 * args.checkpoints:
                problems.append(f"-n {ranks}: write calls grow with the objects: {counts[small]} at {small} cells, "
                                f"{counts[large]} at {large}, the same bytes")
    for p in problems:
        print("PROBLEM", p)
    if problems:
        sys.exit(1)
    print("write calls: ok")


if __name__ == "__main__":
    main()
