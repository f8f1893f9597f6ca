#!/usr/bin/env python3
"""Benchmark rows for real BSB 8.0.2 runs: the NEURON network of tests/bsb/network.py
(1,000 HH cells, 3,052 channels × 4,001 samples) as one process and under mpirun -n 2,
with BSB's own result and with bsb_results.bsb's, side by side in one run.

Measured on every rank by tests/bsb/timing.py: run_simulation, and writing results (the
result object's own work: BSB's Neo writes of the parts and rank 0's merge, or our
conversion into native buffers and the one collective write; the devices' flush callbacks
are the same on both sides and not counted). The slowest rank is reported: a run ends when
its last rank does. Both files are checked equal through BSB's iter_recordings.

Run by bench.py; alone: .venv/bin/python scripts/bench_bsb.py [--cells N]
"""
import argparse
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "bsb"))
import runs  # noqa: E402


def slowest(seconds, key):
    return max(rank[key] for rank in seconds["ranks"])


def per_rank(seconds, key):
    return ", ".join(f"{rank[key]:.2f}" for rank in seconds["ranks"])


def bench(work, row, raw, cells=1000):
    network = runs.compile_network(f"neuron-{cells}", os.path.join(work, f"neuron{cells}.hdf5"))
    label = f"BSB 8.0.2 NEURON run, {cells:,} cells, {3 * cells + 52:,} channels × 4,001 samples"
    for ranks in (None, 2):
        where = "1 process" if ranks is None else f"mpirun -n {ranks}"
        theirs = raw[f"bsb_{ranks or 1}"] = runs.simulate(
            network, "nrn", os.path.join(work, f"bsb{ranks or 1}.nio"), "bsb", ranks)
        ours = raw[f"ours_{ranks or 1}"] = runs.simulate(
            network, "nrn", os.path.join(work, f"ours{ranks or 1}.nio"), "install", ranks)
        w_ours, w_theirs = slowest(ours, "writing"), slowest(theirs, "writing")
        r = w_theirs / w_ours
        row(f"{label}, {where}", "writing results (s)", w_ours, w_theirs, r,
            "≥ 20× BSB's" if ranks else "report", r >= 20 if ranks else True,
            f"slowest rank; per rank ours {per_rank(ours, 'writing')}, BSB's {per_rank(theirs, 'writing')} "
            f"(BSB: Neo writes{' and rank 0’s merge' if ranks else ''}; ours: conversion and one write)")
        t_ours, t_theirs = slowest(ours, "run_simulation"), slowest(theirs, "run_simulation")
        note = f"device flush callbacks {slowest(ours, 'callbacks'):.2f} s (ours), {slowest(theirs, 'callbacks'):.2f} s (BSB's)"
        if ranks:
            one = raw["ours_1"]
            faster = t_ours < slowest(one, "run_simulation")
            row(f"{label}, {where}", "run_simulation (s)", t_ours, t_theirs, t_theirs / t_ours,
                "faster than 1 process", faster,
                f"{note}; 1 process: ours {slowest(one, 'run_simulation'):.2f} s, "
                f"BSB's {slowest(raw['bsb_1'], 'run_simulation'):.2f} s")
        else:
            row(f"{label}, {where}", "run_simulation (s)", t_ours, t_theirs, t_theirs / t_ours, "report", True, note)
        ok, message = runs.check(network, os.path.join(work, f"bsb{ranks or 1}.nio"),
                                 os.path.join(work, f"ours{ranks or 1}.nio"), ranks or 1)
        row(f"{label}, {where}", "same recordings as BSB's", None, None, None, "every target", ok,
            message.splitlines()[-1])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cells", type=int, default=1000)
    p.add_argument("--keep", action="store_true")
    a = p.parse_args()
    work = tempfile.mkdtemp(prefix="bsb-bench-bsb-", dir=os.environ.get("BENCH_DIR"))
    rows, raw = [], {}
    try:
        bench(work, lambda *r: rows.append(r) or print(" | ".join(map(str, r)), flush=True), raw, a.cells)
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
