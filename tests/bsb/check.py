#!/usr/bin/env python3
"""Checks a results file of a real BSB run against BSB's own result of the same run.

usage: check.py NETWORK.hdf5 REFERENCE.nio CANDIDATE.nio --ranks N [--runs K] [--hook]

Both files are read with Neo and compared run by run through BSB 8.0.2's iter_recordings:
every target's data (values, units, times) and every annotation with its type are equal
(the run's own ids aside), as are the Blocks' and Segments' annotations. The candidate
must also be readable by BSB's read_results(network, file), its provenance must name
mpi_size N and one host per rank, it must hold K runs numbered 0..K-1 (the reference's
run repeated), and no `.ranks` directory may be left next to it. With --hook the
candidate's configuration is the reference's plus the after_prepare hook
bsb_results.bsb.NativeResults on its simulation.
"""
import argparse
import os
import sys
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "neo"))
warnings.simplefilter("ignore")
import numpy as np  # noqa: E402
from bsb.simulation.results import (iter_recordings, read_provenance, read_results,  # noqa: E402
                                    read_simulation_config)
from neo_files import finish, read_blocks  # noqa: E402

#: Annotations naming the run itself (and Neo's names of objects), which differ between any
#: two runs.
RUN_IDS = {"bsb_simulation_id", "bsb_segment_id", "segment_id", "nix_name"}
#: Provenance entries that differ between two runs of the same simulation.
RUN_PROVENANCE = {"simulation_id", "started_at", "ranks", "mpi_size"}


def typed(value):
    """An annotation value with its type, comparable across files."""
    if isinstance(value, np.ndarray):
        return ("ndarray", str(value.dtype), value.tolist())
    return (type(value).__name__, value.item() if hasattr(value, "item") else value)


def annotations(obj):
    return {k: typed(v) for k, v in obj.annotations.items() if k not in RUN_IDS}


def recordings(block):
    """{annotations: (kind of object, data, units, t_start, t_stop or sampling period)}."""
    out = {}
    for recording in iter_recordings(block):
        signal = recording.signal
        key = tuple(sorted(annotations(signal).items(), key=lambda kv: kv[0]))
        key = repr(key)
        if hasattr(signal, "sampling_period"):
            extent = ("sampling_period", float(signal.sampling_period.rescale("ms")))
        else:
            extent = ("t_stop", float(signal.t_stop.rescale("ms")))
        value = (type(signal).__name__, np.asarray(signal.magnitude).tolist(),
                 str(signal.units.dimensionality), float(signal.t_start.rescale("ms")), extent, signal.name)
        if key in out:
            raise AssertionError(f"two recordings with the same annotations {key}")
        out[key] = value
    return out


def compare_config(ref, got, where, hook, problems):
    """The simulation's configurations the runs ran with: equal, but for the hook's entry
    with --hook."""
    rc, gc = read_simulation_config(ref), read_simulation_config(got)
    if hook:
        hooks = gc.pop("after_prepare", None) or {}
        if [h.get("strategy") for h in hooks.values()] != ["bsb_results.bsb.NativeResults"]:
            problems.append(f"{where}: the configuration holds no after_prepare hook NativeResults: {hooks!r}")
        rc.pop("after_prepare", None)
    if rc != gc:
        problems.append(f"{where}: the simulation configurations differ")


def compare_runs(ref, got, where, problems, hook=False):
    if ref.name != got.name:
        problems.append(f"{where}: Block name {got.name!r}, expected {ref.name!r}")
    compare_config(ref, got, where, hook, problems)
    ra, ga = annotations(ref), annotations(got)
    for key in ("bsb_provenance", "run_index", "config"):
        ra.pop(key, None)
        ga.pop(key, None)
    if ra != ga:
        diff = sorted(k for k in set(ra) | set(ga) if ra.get(k) != ga.get(k))
        problems.append(f"{where}: Block annotations differ in {diff}")
    rp, gp = read_provenance(ref), read_provenance(got)
    rp = {k: v for k, v in rp.items() if k not in RUN_PROVENANCE}
    gp = {k: v for k, v in gp.items() if k not in RUN_PROVENANCE}
    if rp != gp:
        diff = sorted(k for k in set(rp) | set(gp) if rp.get(k) != gp.get(k))
        problems.append(f"{where}: provenance differs in {diff}")
    rs = [annotations(s) for s in ref.segments]
    gs = [annotations(s) for s in got.segments]
    if rs != gs:
        problems.append(f"{where}: Segment annotations {gs}, expected {rs}")
    rr, gr = recordings(ref), recordings(got)
    if set(rr) != set(gr):
        problems.append(f"{where}: {len(set(rr) - set(gr))} targets missing, {len(set(gr) - set(rr))} unexpected "
                        f"(of {len(rr)}); first missing {sorted(set(rr) - set(gr))[:1]}, "
                        f"first unexpected {sorted(set(gr) - set(rr))[:1]}")
    differ = [k for k in set(rr) & set(gr) if rr[k] != gr[k]]
    if differ:
        k = differ[0]
        problems.append(f"{where}: {len(differ)} targets' data differ, e.g. {k}: {gr[k][0]} {gr[k][2:]} "
                        f"against {rr[k][0]} {rr[k][2:]}")
    return len(rr)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("network")
    parser.add_argument("reference")
    parser.add_argument("candidate")
    parser.add_argument("--ranks", type=int, required=True)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--hook", action="store_true")
    args = parser.parse_args()
    problems = []
    ref = read_blocks(args.reference)
    got = read_blocks(args.candidate)
    if len(ref) != 1:
        problems.append(f"{args.reference}: {len(ref)} runs, expected 1")
    if len(got) != args.runs:
        problems.append(f"{args.candidate}: {len(got)} runs, expected {args.runs}")
    targets = 0
    for index, block in enumerate(got):
        where = f"{args.candidate} run {index}"
        targets = compare_runs(ref[0], block, where, problems, args.hook)
        if block.annotations.get("run_index") != index:
            problems.append(f"{where}: run_index {block.annotations.get('run_index')!r}, expected {index}")
        provenance = read_provenance(block)
        if provenance.get("mpi_size") != args.ranks:
            problems.append(f"{where}: provenance mpi_size {provenance.get('mpi_size')!r}, expected {args.ranks}")
        ranks = provenance.get("ranks") or []
        if sorted(r.get("mpi_rank") for r in ranks) != list(range(args.ranks)) or not all(
                r.get("host", {}).get("hostname") for r in ranks):
            problems.append(f"{where}: provenance ranks {ranks!r}, expected a host for each of {args.ranks} ranks")
    reader = read_results(args.network, args.candidate)
    traced = [r for r in reader.recordings() if r.target is not None]
    if len(traced) != targets * args.runs:
        problems.append(f"read_results traced {len(traced)} recordings, expected {targets * args.runs}")
    leftover = args.candidate + ".ranks"
    if os.path.exists(leftover):
        problems.append(f"{leftover} is left after the run")
    if not problems:
        print(f"{args.candidate}: {targets} targets equal to BSB's, in {len(got)} run(s) of {args.ranks} rank(s)")
    finish(problems)


if __name__ == "__main__":
    main()
