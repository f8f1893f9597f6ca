#!/usr/bin/env python3
"""Side-by-side write benchmarks: bsb-results against Neo's NixIO on the same Blocks.

Run through scripts/bench.sh (it installs, builds and picks the venv). Neo writes exactly
the Block our file holds: the script reads our per-object file with Neo and times Neo's
`write_block` of it in a fresh process. Prints the table, and writes it as JSON and SVG.

usage: bench.py --bin target/release/bsb-results --out DIR [--quick] [--keep]
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

import bench_bsb

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def mpirun(n):
    env_root = os.getuid() == 0
    cmd = ["mpirun", "--oversubscribe", "-n", str(n)]
    return cmd, ({"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"} if env_root else {})


def simulate(binary, out, args, ranks=None):
    """Runs `simulate`; returns its JSON summary plus the whole process's seconds."""
    cmd = [binary, "simulate", "--quiet", "--out", out, *args]
    env = dict(os.environ)
    if ranks:
        launcher, extra = mpirun(ranks)
        cmd = launcher + cmd
        env.update(extra)
    # What earlier runs left for the kernel to write back would otherwise slow this
    # run's fsync (the first of two runs side by side took twice the second's).
    recycle_pages()
    os.sync()
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    summary["process_seconds"] = time.perf_counter() - start
    return summary


def recycle_pages(mib=1536):
    """Writes and deletes `mib` MiB of scratch file, so that the next run finds that much
    recently used free memory. On this VM the kernel pays about ten times more for a page
    the guest has not touched lately (dd: 352 MB into the page cache in 1.1 s, against
    0.12 s right after a file of that size was deleted), so a run that comes after a
    smaller one pays for pages the smaller one never freed, and of two runs side by side
    the one after a deletion is the faster: the VM's memory history, not the code. Called
    before each `simulate`, `dd` and Python script of ours."""
    scratch = os.path.join(tempfile.gettempdir(), "bsb-bench-recycle.scratch")
    block = b"\0" * (16 << 20)
    with open(scratch, "wb") as f:
        for _ in range(mib // 16):
            f.write(block)
    os.remove(scratch)


def neo_write(source, target):
    """Neo reads `source` and writes the same Block to `target` (in a fresh process)."""
    code = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
from neo.io import NixIO
t = time.perf_counter()
io = NixIO(sys.argv[1], mode="ro"); block = io.read_block(); io.close()
read = time.perf_counter() - t
def strip(o):
    o.annotations.pop("nix_name", None)
for o in [block, *block.segments, *[x for s in block.segments for x in (*s.spiketrains, *s.analogsignals)]]:
    strip(o)
t = time.perf_counter()
io = NixIO(sys.argv[2], mode="ow"); io.write_block(block); io.close()
print(json.dumps({"read_seconds": read, "write_seconds": time.perf_counter() - t}))
"""
    done = subprocess.run([sys.executable, "-c", code, source, target], capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["file_bytes"] = os.path.getsize(target)
    return result


# The Python side: simulate's network recorded from Python through bsb_results
# (tests/python/network.py draws the same activity from the library's generators).
PY_WRITE = """
import json, sys, time
start = time.perf_counter()
sys.path.insert(0, sys.argv[2])
import bsb_results, network
imported = time.perf_counter()
summary = network.run(sys.argv[1], None, cells=int(sys.argv[3]), voltage_cells=0, checkpoints=1, duration_ms=1000.0,
                      resolution_ms=0.1, rate_hz=20.0, seed=42)
done = time.perf_counter()
print(json.dumps({"import_seconds": imported - start, "run_seconds": done - imported, "write_seconds": summary["write_seconds"],
                  "objects": summary["objects"]}))
"""

# Neo writing the same trains from Python: the same cells, spike times and annotations.
NEO_WRITE_TRAINS = """
import json, sys, time, uuid, warnings
warnings.simplefilter("ignore")
import quantities as pq
from neo import Block, Segment, SpikeTrain
from neo.io import NixIO
from bsb_results import _native
cells, sim, seg_id = int(sys.argv[2]), str(uuid.uuid4()), str(uuid.uuid4())
block = Block(name="simulate", config="{}", bsb_simulation_id=sim, bsb_provenance="{}")
segment = Segment(segment_id=seg_id, checkpoint_index=0, t_start_ms=0.0, t_stop_ms=1000.0, simulator_state="{}")
for c in range(cells):
    ps, model = ("golgi_cell", "golgi_iaf") if c % 4 == 3 else ("granule_cell", "granule_iaf")
    times = _native.synthetic_poisson([42, c, 0], 20.0, 0.1, 0.0, 1000.0)
    segment.spiketrains.append(SpikeTrain(times * pq.ms, t_start=0.0 * pq.ms, t_stop=1000.0 * pq.ms, name=f"{ps}_{c}",
        bsb_device_name="spikes", bsb_device_kind="spike_recorder", bsb_recording_kind="cell", bsb_simulation_id=sim,
        bsb_segment_id=seg_id, bsb_direction="record", bsb_ps_name=ps, bsb_cell_id=c, bsb_cell_model=model))
block.segments.append(segment)
start = time.perf_counter()
io = NixIO(sys.argv[1], mode="ow"); io.write_block(block); io.close()
print(json.dumps({"write_seconds": time.perf_counter() - start}))
"""

# Reading every spike train of a file into numpy arrays through bsb_results.
PY_READ = """
import json, sys, time
start = time.perf_counter()
import bsb_results
imported = time.perf_counter()
block = bsb_results.read_nio(sys.argv[1])
times = [t.times for s in block.segments for t in s.spiketrains]
print(json.dumps({"import_seconds": imported - start, "read_seconds": time.perf_counter() - imported, "trains": len(times),
                  "spikes": int(sum(len(t) for t in times))}))
"""


def python_script(code, *args):
    """Runs a Python script in a fresh process; returns its JSON line plus the whole
    process's seconds (interpreter start, imports, MPI start included)."""
    recycle_pages()
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - start
    return result


def listed(runs, key):
    """`key` of each run, as a list for a note."""
    return ", ".join(f"{r[key]:.2f}" for r in runs)


def median_by(runs, key):
    """The run whose `key` is the median of `runs` (an odd number of them)."""
    return sorted(runs, key=lambda r: r[key])[len(runs) // 2]


def python_rows(rows, raw, work, cells, binary, spikes):
    """Writing and reading from Python: bsb_results against Neo and against simulate.
    `spikes` are simulate's arguments for the same cells. Needs section 1's `spikes_neo`
    (Neo's read of simulate's file)."""
    label = f"{cells:,} spike trains from Python (mpi4py)"
    # The same objects from Python and from simulate, three runs each, interleaved (this
    # VM's speed drifts between runs), compared by their medians.
    pairs = [(python_script(PY_WRITE, f"{work}/python.nio", os.path.join(ROOT, "tests", "python"), str(cells)),
              simulate(binary, f"{work}/python-rust.nio", spikes))
             for _ in range(3)]
    pythons, rusts = [p for p, _ in pairs], [r for _, r in pairs]
    ours = raw["python_write"] = median_by(pythons, "run_seconds")
    rust = raw["python_rust"] = median_by(rusts, "seconds")
    neo = raw["python_neo_write"] = python_script(NEO_WRITE_TRAINS, f"{work}/python-neo.nio", str(cells))
    r = neo["process_seconds"] / ours["process_seconds"]
    row(rows, label, "whole script: bsb_results vs Neo write_block (s)", ours["process_seconds"], neo["process_seconds"], r,
        "≥ 50×", r >= 50, f"same trains and annotations; Neo's write_block alone {neo['write_seconds']:.2f} s, "
        f"our write {ours['write_seconds']:.2f} s; import of bsb_results and mpi4py {ours['import_seconds']:.2f} s")
    r = ours["run_seconds"] / rust["seconds"]
    row(rows, label, "Python vs Rust simulate, same objects (s)", ours["run_seconds"], rust["seconds"], r, "≤ 1.5×", r <= 1.5,
        f"create, flush, write in one process, start and imports left out on both sides; medians of 3 interleaved runs "
        f"(Python {listed(pythons, 'run_seconds')}; Rust {listed(rusts, 'seconds')}); "
        f"whole processes {ours['process_seconds']:.2f} s and {rust['process_seconds']:.2f} s")
    read = raw["python_read"] = python_script(PY_READ, f"{work}/spikes.nio")
    r = raw["spikes_neo"]["read_seconds"] / read["read_seconds"]
    row(rows, f"{cells:,} spike trains × ~20 spikes, 9 annotations", "read into numpy from Python (s)", read["read_seconds"],
        raw["spikes_neo"]["read_seconds"], r, "≥ 20× Neo's read", r >= 20,
        f"bsb_results.read_nio, every train's times as numpy, against Neo's read_block of the same file; "
        f"whole process {read['process_seconds']:.2f} s")


def dd_speed(directory, megabytes):
    """Sequential write speed of the disk under `directory` in bytes/s (dd, fdatasync)."""
    path = os.path.join(directory, "dd.bin")
    recycle_pages()  # as before each `simulate`
    os.sync()
    start = time.perf_counter()
    subprocess.run(["dd", "if=/dev/zero", f"of={path}", "bs=1M", f"count={megabytes}", "conv=fdatasync"],
                   capture_output=True, check=True)
    seconds = time.perf_counter() - start
    os.remove(path)
    return megabytes * 2**20 / seconds


def timed(cmd):
    """Seconds one command takes (the best of two runs: page cache warm, as for Neo)."""
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        # The output is produced and dropped: kept here, it would raise this process's
        # peak, at which every later child's ru_maxrss starts (see `measured`).
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True)
        best = min(best, time.perf_counter() - start)
    return best


#: Runs commands for `measured`, one JSON line per command in and out. Linux starts a
#: child's ru_maxrss at the resident size of the process it was forked from (and keeps it
#: across exec): a command started from this process, which grows to hundreds of MiB,
#: reported at least that (356 MiB for every `inspect`); started from this small one, it
#: reports its own peak. The launcher must stay small too: it keeps only the last line of
#: a command's output, and none of one whose output is not needed (`inspect --json`
#: prints one line of 55 MB for 100,000 trains, which raised the launcher to 238 MiB).
LAUNCHER = r"""
import json, os, subprocess, sys, tempfile, time
for line in sys.stdin:
    cmd, keep = json.loads(line)
    start = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        child = subprocess.Popen(cmd, stdout=subprocess.PIPE if keep else subprocess.DEVNULL, stderr=err)
        out = b"{}"
        for got in child.stdout or []:
            out = got if got.strip() else out
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        if child.stdout:
            child.stdout.close()
        err.seek(0)
        print(json.dumps({"seconds": seconds, "maxrss": usage.ru_maxrss, "status": os.waitstatus_to_exitcode(status),
                          "out": out.decode(), "err": err.read().decode()[-500:]}), flush=True)
"""
_launcher = None


def measured(cmd, output=True):
    """One run of a command: its seconds, peak memory in bytes (wait4's ru_maxrss: the
    command and the children it waited for; the reading commands read in a child of
    their own), and last line of output as JSON (`{}` without `output`)."""
    global _launcher
    if _launcher is None:
        _launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    _launcher.stdin.write(json.dumps([cmd, output]) + "\n")
    _launcher.stdin.flush()
    done = json.loads(_launcher.stdout.readline())
    if done["status"] != 0:
        raise RuntimeError(f"{cmd} failed: {done['err']}")
    return done["seconds"], done["maxrss"] * 1024, json.loads(done["out"].strip().splitlines()[-1])


def check_multiplex(reference, muxed):
    done = subprocess.run([sys.executable, os.path.join(ROOT, "tests/neo/check_multiplex.py"), reference, f"1={muxed}"],
                          capture_output=True, text=True)
    return done.returncode == 0, done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-300:]


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, {platform.platform()}"


def row(rows, workload, measure, ours, theirs, ratio, target, met, note=""):
    rows.append({"workload": workload, "measure": measure, "ours": ours, "reference": theirs,
                 "ratio": ratio, "target": target, "met": met, "note": note})


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--quick", action="store_true", help="2,000 trains and 200 signals instead of 10,000 and 1,000")
    p.add_argument("--keep", action="store_true", help="keep the written files")
    a = p.parse_args()
    cells, signal_cells = (2000, 100) if a.quick else (10000, 500)
    work = tempfile.mkdtemp(prefix="bsb-bench-", dir=os.environ.get("BENCH_DIR"))
    rows, raw = [], {}
    spikes = ["--cells", str(cells), "--voltage-cells", "0", "--duration-ms", "1000", "--rate-hz", "20"]
    signals = ["--cells", str(signal_cells), "--voltage-cells", str(signal_cells), "--rate-hz", "0",
               "--duration-ms", "1000", "--resolution-ms", "0.1"]
    try:
        # 1. spike trains, one object per cell
        ours = raw["spikes"] = simulate(a.bin, f"{work}/spikes.nio", spikes)
        raw["spikes_unshared"] = simulate(a.bin, f"{work}/spikes-unshared.nio", spikes + ["--no-sharing"])
        neo = raw["spikes_neo"] = neo_write(f"{work}/spikes.nio", f"{work}/spikes-neo.nio")
        label = f"{cells:,} spike trains × ~20 spikes, 9 annotations"
        r = neo["write_seconds"] / ours["write_seconds"]
        row(rows, label, "write time (s)", ours["write_seconds"], neo["write_seconds"], r, "≥ 35×", r >= 35,
            f"whole process {ours['process_seconds']:.2f} s (MPI start, simulation); "
            f"without property sharing {raw['spikes_unshared']['write_seconds']:.2f} s")
        row(rows, label, "layout time (s)", ours["metadata_seconds"], None, None, "≤ 0.8 s", ours["metadata_seconds"] <= 0.8,
            f"rank 0 lays out the NIX structure, every entity with NIX's created_at and updated_at: "
            f"{ours['metadata_seconds'] / cells * 1e6:.0f} µs per train; Neo's whole write takes "
            f"{neo['write_seconds'] / ours['metadata_seconds']:.0f}× as long")
        r = ours["file_bytes"] / neo["file_bytes"]
        row(rows, label, "file size (MB)", ours["file_bytes"] / 1e6, neo["file_bytes"] / 1e6, r, "≤ 0.15", r <= 0.15,
            f"without sharing {raw['spikes_unshared']['file_bytes'] / 1e6:.1f} MB")
        row(rows, label, "Neo reads our file (s)", neo["read_seconds"], None, None, "reads", True,
            "read_block of our file, every object")
        for measure, args, target in (("read whole (dump) (s)", ["dump"], 20), ("inspect --json (s)", ["inspect", "--json"], 20),
                                      ("plot: raster, rates (SVG) (s)", ["plot", "--out", f"{work}/spikes.svg"], 20),
                                      ("list without annotations (s)", ["inspect", "--json", "--no-annotations"], None)):
            seconds = raw[f"read {measure}"] = timed([a.bin, *args, f"{work}/spikes.nio"])
            r = neo["read_seconds"] / seconds
            ok = r >= target if target else seconds < raw["read inspect --json (s)"]
            row(rows, label, measure, seconds, neo["read_seconds"], r, f"≥ {target}× Neo's read" if target else "faster than inspect", ok,
                "whole process, figure written" if args[0] == "plot" else "whole process, JSON output included")

        python_rows(rows, raw, work, cells, a.bin, spikes)

        # 2. analog signals, one object per channel; the disk's speed from dd, interleaved
        # with our writes (three each, medians: this VM's disk varies a lot between runs)
        disk_runs, ours_runs = [], []
        for i in range(3):
            ours_runs.append(simulate(a.bin, f"{work}/signals.nio", signals))
            disk_runs.append(dd_speed(work, max(64, int(ours_runs[-1]["file_bytes"] / 2**20))))
        ours = raw["signals"] = sorted(ours_runs, key=lambda r: r["write_seconds"])[1]
        disk = raw["dd_bytes_per_second"] = sorted(disk_runs)[1]
        neo = raw["signals_neo"] = neo_write(f"{work}/signals.nio", f"{work}/signals-neo.nio")
        label = f"{2 * signal_cells:,} signals × 10,000 samples ({ours['data_bytes'] / 1e6:.0f} MB)"
        r = neo["write_seconds"] / ours["write_seconds"]
        row(rows, label, "write time (s)", ours["write_seconds"], neo["write_seconds"], r, "≥ 10×", r >= 10,
            f"plus {signal_cells} empty spike trains in both; median of 3")
        ours_speed = ours["file_bytes"] / ours["write_seconds"]
        r = ours_speed / disk
        row(rows, label, "write speed (MB/s)", ours_speed / 1e6, disk / 1e6, r, "≥ 0.6 of dd", r >= 0.6,
            f"file bytes / write seconds, fsync included on both sides; medians of 3 interleaved runs "
            f"(dd {', '.join(f'{d / 1e6:.0f}' for d in disk_runs)} MB/s); in our {ours['write_seconds']:.3f} s, rank 0 "
            f"lays out the 1,500 objects ({ours['metadata_seconds']:.3f} s) beside the data phase (open, write, "
            f"MPI_File_sync, close: {ours['data_seconds']:.3f} s, {ours['data_bytes'] / ours['data_seconds'] / disk:.2f} of dd)")

        # 3. the same workloads, multiplexed, against Neo writing the same multiplexed Block
        # (what BSB 8 writes); Neo's per-object write of the same recordings in the note
        ours = raw["spikes_mux"] = simulate(a.bin, f"{work}/spikes-mux.nio", spikes + ["--multiplex"])
        neo = raw["spikes_mux_neo"] = neo_write(f"{work}/spikes-mux.nio", f"{work}/spikes-mux-neo.nio")
        r = neo["write_seconds"] / ours["write_seconds"]
        label = f"{cells:,} spike trains, multiplexed"
        row(rows, label, "write time (s)", ours["write_seconds"], neo["write_seconds"], r, "report", True,
            f"vs Neo writing the same multiplexed Block; Neo's per-object write of the same spikes "
            f"{raw['spikes_neo']['write_seconds']:.2f} s; whole process {ours['process_seconds']:.2f} s")
        ok, message = check_multiplex(f"{work}/spikes.nio", f"{work}/spikes-mux.nio")
        row(rows, label, "BSB 8.0.2 demultiplexes", None, None, None, "every target", ok, message)
        ours = raw["signals_mux"] = simulate(a.bin, f"{work}/signals-mux.nio", signals + ["--multiplex"])
        neo = raw["signals_mux_neo"] = neo_write(f"{work}/signals-mux.nio", f"{work}/signals-mux-neo.nio")
        r = neo["write_seconds"] / ours["write_seconds"]
        row(rows, f"{2 * signal_cells:,} signals, multiplexed", "write time (s)", ours["write_seconds"],
            neo["write_seconds"], r, "report", True,
            f"vs Neo writing the same multiplexed Block (two multi-channel signals per checkpoint); "
            f"Neo's per-object write {raw['signals_neo']['write_seconds']:.2f} s")

        # 4. a figure of ten million spikes (multiplexed; two checkpoints of 5 million)
        many = 20000 if a.quick else 100000
        simulate(a.bin, f"{work}/many.nio", ["--cells", str(many), "--rate-hz", "100", "--duration-ms", "1000",
                                            "--voltage-cells", "10", "--checkpoints", "2", "--multiplex"])
        seconds, peak, drawn = raw["plot_many"] = measured([a.bin, "plot", f"{work}/many.nio", "--out", f"{work}/many.png"])
        row(rows, f"{drawn['spikes']:,} spikes of {many:,} cells, multiplexed", "plot (PNG) (s)", seconds, None, None,
            "seconds, bounded memory", seconds < 10,
            f"whole process; raster binned: {'yes' if drawn['binned'] else 'no'}; peak memory {peak / 2**20:.0f} MiB (file {os.path.getsize(f'{work}/many.nio') / 2**20:.0f} MiB)")

        # 5. scaling over ranks (oversubscribed on small machines)
        tiny = [x if x != "1000" else "10" for x in signals]  # the same objects, 1% of the samples
        for n in (1, 2, 4):
            base = raw[f"scaling_{n}_tiny"] = simulate(a.bin, f"{work}/tiny{n}.nio", tiny, ranks=n)
            s = raw[f"scaling_{n}"] = simulate(a.bin, f"{work}/scale{n}.nio", signals, ranks=n)
            writes = s["data_write_seconds_by_rank"]
            row(rows, f"simulate, signals workload, mpirun -n {n}", "data write s per rank (max) / metadata s",
                max(writes), s["metadata_seconds"], None, "write time falls", None,
                f"per rank {', '.join(f'{x:.3f}' for x in writes)} s; with open, MPI_File_sync and close {s['data_seconds']:.3f} s")
            pairs = zip(s["peak_memory_by_rank"], base["peak_memory_by_rank"], s["data_bytes_by_rank"], base["data_bytes_by_rank"])
            growth = max((m - m0) / max(b - b0, 1) for m, m0, b, b0 in pairs)
            absolute = max(m / b for m, b in zip(s["peak_memory_by_rank"], s["data_bytes_by_rank"]))
            row(rows, f"simulate, signals workload, mpirun -n {n}", "memory growth / buffered data", growth, None, None,
                "≤ 1.5×", growth <= 1.5, f"peak RSS over a run of the same objects with 1% of the samples; whole peak / buffered {absolute:.2f}×")
        writes = [max(raw[f"scaling_{n}"]["data_write_seconds_by_rank"]) for n in (1, 2, 4)]
        falls = writes[1] < writes[0] and writes[2] < writes[1]
        for r in rows:
            if r["target"] == "write time falls":
                r["met"] = falls

        # 6. the data phase, collective against independent, side by side at 1, 2 and 4 ranks
        # Three rounds, the order alternating, each side its median (one run of each read
        # 0.49 / 0.14 s at one rank, and 0.10 / 0.14 s run again by hand).
        for n in (1, 2, 4):
            runs = {"collective": [], "independent": []}
            for r in range(3):
                for io in ("collective", "independent")[:: 1 if r % 2 == 0 else -1]:
                    runs[io].append(simulate(a.bin, f"{work}/io-{io}{n}.nio", signals + ["--io", io], ranks=n))
                    os.remove(f"{work}/io-{io}{n}.nio")
            c = raw[f"io_collective_{n}"] = median_by(runs["collective"], "data_seconds")
            i = raw[f"io_independent_{n}"] = median_by(runs["independent"], "data_seconds")
            row(rows, f"signals workload, mpirun -n {n}", "data phase (s): --io collective / independent",
                c["data_seconds"], i["data_seconds"], i["data_seconds"] / c["data_seconds"], "report", True,
                f"write calls alone {max(c['data_write_seconds_by_rank']):.3f} / {max(i['data_write_seconds_by_rank']):.3f} s (slowest rank); "
                f"whole write {c['write_seconds']:.2f} / {i['write_seconds']:.2f} s; layer {c['mpio']['layer']}; medians of 3 "
                f"(collective {listed(runs['collective'], 'data_seconds')}; independent {listed(runs['independent'], 'data_seconds')})")

        # 7. metadata that stays linear: layout, inspect and peak memory per spike train
        # Three rounds over the sizes, each measure the median of its three runs: this VM's
        # speed drifts by 20-30% within minutes, more than the growth being measured.
        sizes = (2000, 6000, 20000) if a.quick else (10000, 30000, 100000)
        runs = {n: [] for n in sizes}
        for _ in range(3):
            for n in sizes:
                args = ["--cells", str(n), *spikes[2:]]
                s = simulate(a.bin, f"{work}/linear{n}.nio", args)
                s["inspect_seconds"], s["inspect_peak"], _ = measured([a.bin, "inspect", "--json", f"{work}/linear{n}.nio"], output=False)
                s["peak"] = max(s["peak_memory_by_rank"])
                runs[n].append(s)
                os.remove(f"{work}/linear{n}.nio")
        for n in sizes:
            s = raw[f"linear_{n}"] = median_by(runs[n], "metadata_seconds")
            for key in ("inspect_seconds", "inspect_peak"):
                s[key] = median_by(runs[n], key)[key]
            s["peak_memory_by_rank"] = median_by(runs[n], "peak")["peak_memory_by_rank"]
            s["inspect_runs"] = [r["inspect_seconds"] for r in runs[n]]
            s["layout_runs"] = [r["metadata_seconds"] for r in runs[n]]
        first = raw[f"linear_{sizes[0]}"]
        for n in sizes:
            s, k = raw[f"linear_{n}"], n / sizes[0]
            grow = [s["metadata_seconds"] / first["metadata_seconds"], s["inspect_seconds"] / first["inspect_seconds"],
                    max(s["peak_memory_by_rank"]) / max(first["peak_memory_by_rank"]), s["inspect_peak"] / first["inspect_peak"]]
            row(rows, f"{n:,} spike trains", "layout µs per train", s["metadata_seconds"] / n * 1e6, None, None,
                f"≤ {1.1 * k:.3g}× of {sizes[0]:,} in layout, inspect, peak memory", max(grow) <= 1.1 * k,
                f"× {sizes[0]:,}: layout {grow[0]:.2f}, inspect --json {grow[1]:.2f} ({s['inspect_seconds']:.2f} s), "
                f"peak memory of the write {grow[2]:.2f} ({max(s['peak_memory_by_rank']) / 2**20:.0f} MiB), "
                f"of inspect {grow[3]:.2f} ({s['inspect_peak'] / 2**20:.0f} MiB); medians of 3 interleaved runs "
                f"(layout {', '.join(f'{x:.2f}' for x in s['layout_runs'])} s)")

        # 8. real BSB 8.0.2 runs: BSB's result against bsb_results.bsb (scripts/bench_bsb.py)
        bench_bsb.bench(work, lambda *r: row(rows, *r), raw, cells=200 if a.quick else 1000)
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    report(rows, raw, a)


def fmt(x):
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.3g}" if abs(x) < 1000 else f"{x:,.0f}"
    return str(x)


def report(rows, raw, a):
    os.makedirs(a.out, exist_ok=True)
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    meta = {"date": datetime.date.today().isoformat(), "commit": commit, "machine": machine(), "quick": a.quick}
    with open(os.path.join(a.out, "latest.json"), "w") as f:
        json.dump({"meta": meta, "rows": rows, "raw": raw}, f, indent=1)
    lines = [f"Machine: {meta['machine']}; commit {commit}; {meta['date']}", "",
             "| workload | measure | ours | Neo / reference | ratio | target | met | note |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        met = {True: "yes", False: "**no**", None: "–"}[r["met"]]
        ratio = f"{r['ratio']:.3g}×" if isinstance(r["ratio"], float) else "–"
        lines.append(f"| {r['workload']} | {r['measure']} | {fmt(r['ours'])} | {fmt(r['reference'])} | {ratio} | "
                     f"{r['target'] or '–'} | {met} | {r['note']} |")
    table = "\n".join(lines)
    with open(os.path.join(a.out, "latest.md"), "w") as f:
        f.write(table + "\n")
    with open(os.path.join(a.out, "latest.svg"), "w") as f:
        f.write(svg(rows))
    print(table)


def svg(rows):
    """A log-scale bar chart of write seconds, ours against Neo's, per workload."""
    import math
    bars = [(r["workload"], r["ours"], r["reference"]) for r in rows if r["measure"] == "write time (s)"]
    width, left, bar, gap = 900, 330, 14, 18
    height = 60 + len(bars) * (2 * bar + gap)
    lo, hi = -3, 3
    x = lambda s: left + (math.log10(max(s, 10 ** lo)) - lo) / (hi - lo) * (width - left - 20)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="10" y="20" font-size="14">Write time, seconds (log scale): bsb-results vs Neo NixIO</text>']
    for p in range(lo, hi + 1):
        out.append(f'<line x1="{x(10**p):.1f}" y1="30" x2="{x(10**p):.1f}" y2="{height - 20}" stroke="#ddd"/>')
        out.append(f'<text x="{x(10**p):.1f}" y="{height - 5}" text-anchor="middle">{10**p:g}</text>')
    y = 40
    for name, ours, neo in bars:
        out.append(f'<text x="10" y="{y + bar + 4}">{name}</text>')
        for value, colour, who in ((ours, "#2a7", "ours"), (neo, "#c55", "Neo")):
            if value:
                out.append(f'<rect x="{left}" y="{y}" width="{x(value) - left:.1f}" height="{bar}" fill="{colour}"/>')
                out.append(f'<text x="{x(value) + 4:.1f}" y="{y + bar - 3}">{who} {value:.3g} s</text>')
            y += bar
        y += gap
    out.append("</svg>")
    return "\n".join(out)


if __name__ == "__main__":
    main()
