#!/usr/bin/env python3
"""Our reader against Neo's: write fixtures with Neo itself (every annotation type and
object shape Neo writes), read each file with Neo and with `bsb-results dump --all`, and
compare field by field, values and types.

usage: reader_vs_neo.py --bin target/release/bsb-results [--dir DIR] [MORE.nio ...]
"""
import argparse
import datetime as dt
import json
import math
import os
import subprocess
import sys
import tempfile
import warnings

os.environ.setdefault("BSB_IGNORE_PARALLEL", "1")
warnings.simplefilter("ignore")
import numpy as np  # noqa: E402
import quantities as pq  # noqa: E402
from neo import AnalogSignal, Block, Segment, SpikeTrain  # noqa: E402
from neo.io import NixIO  # noqa: E402
from neo_files import finish, read_block, read_blocks  # noqa: E402


def fixture_types(path):
    """Every annotation type and object shape Neo writes."""
    b = Block(name="types", description="every annotation type")
    b.annotate(
        text="hello", empty="", integer=42, real=2.5, flag=True, off=False,
        words=["a", "b"], ints=[1, 2, 3], reals=[0.5, 1.5], flags=[True, False],
        single=[7], nothing=[], empty_dict={}, json_text=json.dumps({"a": {"b": [1, 2]}}),
        dt_scalar=0.025 * pq.ms, dt_array=[1.0, 2.0] * pq.s, unicode="ünïcödé ✓",
        when=dt.datetime(2024, 5, 6, 7, 8, 9, 123456), day=dt.date(2024, 5, 6), clock=dt.time(7, 8, 9, 123456),
    )
    s0 = Segment(name="checkpoint_0")
    s0.annotate(segment_id="seg0", checkpoint_index=0, t_start_ms=0.0, t_stop_ms=100.0, simulator_state={})
    s0.analogsignals.append(AnalogSignal(np.array([[-70.0, -65.0, -60.0], [-69.5, -64.5, -59.5], [-69.0, -64.0, -59.0]]),
                                         units="mV", sampling_period=0.1 * pq.ms, t_start=0.2 * pq.ms, name="V_m",
                                         bsb_ps_name="purkinje", bsb_cell_id=7,
                                         array_annotations={"bsb_arc": np.array([0.5, 0.25, 0.75]), "section": np.array(["soma", "dend", "axon"])}))
    s0.analogsignals.append(AnalogSignal(np.arange(5.0)[:, None], units="nA", sampling_rate=10 * pq.kHz, t_start=1.0 * pq.s, name="I_syn"))
    s0.spiketrains.append(SpikeTrain([1.5, 20.25, 77.0], units="ms", t_stop=100.0, name="granule_3",
                                     bsb_ps_name="granule", bsb_cell_id=3, bsb_device_name="spikes",
                                     array_annotations={"amplitude": np.array([1.0, 2.0, 3.0])}))
    s0.spiketrains.append(SpikeTrain([], units="ms", t_stop=100.0, name=None, bsb_ps_name="granule", bsb_cell_id=4))
    s0.spiketrains.append(SpikeTrain([0.01, 0.02], units="s", t_start=0.005 * pq.s, t_stop=0.1 * pq.s, name="plain"))
    s1 = Segment(name="checkpoint_1")
    s1.annotate(segment_id="seg1", checkpoint_index=1)
    b.segments += [s0, s1]
    io = NixIO(path, mode="ow")
    io.write_block(b)
    io.close()


def fixture_runs(path):
    """Several runs in one file, appended with mode rw, two of the same name."""
    for name in ("sim", "sim", "other"):
        b = Block(name=name)
        b.annotate(config="{}")
        s = Segment()
        s.spiketrains.append(SpikeTrain([1.0], units="ms", t_stop=2.0, bsb_ps_name="p", bsb_cell_id=1))
        b.segments.append(s)
        io = NixIO(path, mode="rw" if os.path.exists(path) else "ow")
        io.write_block(b)
        io.close()


def fixture_multiplexed(path):
    """Objects multiplexed by BSB 8.0.2's own encoder."""
    from bsb.simulation.results import multiplex_channels, multiplex_targets
    targets = [{"bsb_recording_kind": "cell", "bsb_direction": "record", "bsb_ps_name": "grc", "bsb_cell_model": "m", "bsb_cell_id": i}
               for i in range(3)]
    targets[1]["bsb_pre_cell_id"] = 9
    targets[1]["bsb_weight"] = 0.5
    b = Block(name="mux")
    s = Segment()
    s.spiketrains.append(SpikeTrain([1.0, 2.0, 3.0, 4.0], units="ms", t_stop=10.0, bsb_device_name="spikes",
                                    array_annotations={"bsb_target_index": np.array([2, 0, 2, 1])}, **multiplex_targets(targets)))
    base, arrays = multiplex_channels(targets)
    s.analogsignals.append(AnalogSignal(np.arange(6.0).reshape(2, 3), units="mV", sampling_period=1 * pq.ms, bsb_device_name="vm",
                                        array_annotations=arrays, **base))
    b.segments.append(s)
    io = NixIO(path, mode="ow")
    io.write_block(b)
    io.close()


# ---- canonical, typed forms -------------------------------------------------------------
def neo_value(v):
    if isinstance(v, pq.Quantity):
        return ["quantity", [float(x) for x in np.atleast_1d(v.magnitude)], str(v.dimensionality)]
    if isinstance(v, (bool, np.bool_)):
        return ["bool", bool(v)]
    if isinstance(v, (int, np.integer)):
        return ["int", int(v)]
    if isinstance(v, (float, np.floating)):
        return ["float", float(v)]
    if isinstance(v, str):
        return ["str", v]
    if isinstance(v, dt.datetime):
        return ["datetime", v.strftime("%Y-%m-%dT%H:%M:%S.%f")]
    if isinstance(v, dt.date):
        return ["date", v.strftime("%Y-%m-%d")]
    if isinstance(v, dt.time):
        return ["time", v.strftime("%H:%M:%S.%f")]
    if isinstance(v, (list, tuple, np.ndarray)):
        return ["list", [neo_value(x) for x in list(v)]]
    return ["?", repr(v)]


def ours_value(v):
    (kind, x), = v.items()
    scalar = {"Str": "str", "Int": "int", "Float": "float", "Bool": "bool", "DateTime": "datetime", "Date": "date", "Time": "time"}
    if kind == "Float" and x is None:
        return ["float", float("nan")]
    if kind in scalar:
        return [scalar[kind], x]
    if kind == "Quantity":
        return ["quantity", x["values"], x["unit"]]
    item = {"StrList": "str", "IntList": "int", "FloatList": "float", "BoolList": "bool"}[kind]
    # JSON has no NaN: our dump writes NaN as null (roster sentinels, say).
    return ["list", [[item, float("nan") if y is None and item == "float" else y] for y in x]]


def neo_annotations(obj):
    return [[k, neo_value(v)] for k, v in obj.annotations.items()]


def ours_annotations(pairs):
    return [[k, ours_value(v)] for k, v in pairs]


def canonical_neo(b):
    out = {"name": b.name, "annotations": neo_annotations(b), "segments": []}
    for s in b.segments:
        seg = {"name": s.name or "", "annotations": neo_annotations(s), "spiketrains": [], "analogsignals": []}
        for t in s.spiketrains:
            u = str(t.units.dimensionality)
            seg["spiketrains"].append({
                "name": t.name or "", "units": u, "times": [float(x) for x in t.magnitude],
                "t_start": float(t.t_start.rescale(u).magnitude), "t_stop": float(t.t_stop.rescale(u).magnitude),
                "annotations": neo_annotations(t),
                "array_annotations": [[k, neo_value(v)] for k, v in t.array_annotations.items()]})
        for a in s.analogsignals:
            tu = str(a.sampling_period.dimensionality)
            seg["analogsignals"].append({
                "name": a.name or "", "units": str(a.units.dimensionality), "time_units": tu,
                "sampling_period": float(a.sampling_period.magnitude), "t_start": float(a.t_start.rescale(a.sampling_period.units).magnitude),
                "shape": list(a.shape), "data": [float(x) for x in a.magnitude.T.ravel()],
                "annotations": neo_annotations(a),
                "array_annotations": [[k, neo_value(v)] for k, v in a.array_annotations.items()]})
        out["segments"].append(seg)
    return out


def canonical_ours(b):
    out = {"name": b["name"] or "", "annotations": ours_annotations(b["annotations"]), "segments": []}
    for s in b["segments"]:
        seg = {"name": s["name"] or "", "annotations": ours_annotations(s["annotations"]), "spiketrains": [], "analogsignals": []}
        for t in s["spiketrains"]:
            seg["spiketrains"].append({
                "name": t["name"] or "", "units": t["units"], "times": t["times"], "t_start": t["t_start"], "t_stop": t["t_stop"],
                "annotations": ours_annotations(t["annotations"]), "array_annotations": ours_annotations(t["array_annotations"])})
        for a in s["analogsignals"]:
            seg["analogsignals"].append({
                "name": a["name"] or "", "units": a["units"], "time_units": a["time_units"], "sampling_period": a["sampling_period"],
                "t_start": a["t_start"], "shape": [a["n_samples"], a["n_channels"]], "data": a["data"],
                "annotations": ours_annotations(a["annotations"]), "array_annotations": ours_annotations(a["array_annotations"])})
        out["segments"].append(seg)
    return out


def same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and (math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12) or (math.isnan(a) and math.isnan(b)))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def differences(a, b, where=""):
    if same(a, b):
        return []
    if isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
        return [d for k in a for d in differences(a[k], b[k], f"{where}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{where}[{i}]")]
    return [f"{where}: Neo {json.dumps(a)[:200]} != ours {json.dumps(b)[:200]}"]


def compare(binary, path):
    neo = [canonical_neo(b) for b in read_blocks(path)]
    done = subprocess.run([binary, "dump", "--all", path], capture_output=True, text=True)
    if done.returncode != 0:
        return [f"{path}: dump failed: {done.stderr.strip()}"]
    ours = [canonical_ours(b) for b in json.loads(done.stdout)]
    return [f"{os.path.basename(path)}{d}" for d in differences(neo, ours)]


def plain(v):
    """A Neo annotation value as plain JSON-like Python."""
    if isinstance(v, np.ndarray):
        return [plain(x) for x in v.tolist()]
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def compare_recordings(binary, path):
    """BSB 8.0.2's iter_recordings (on Neo's read) against ours (`inspect --json --data`)."""
    from bsb.simulation.results import iter_recordings
    block = read_block(path)
    theirs = []
    for i, seg in enumerate(block.segments):
        checkpoint = int(seg.annotations.get("checkpoint_index", i))
        for rec in iter_recordings(seg):
            ann = rec.signal.annotations
            if "bsb_ps_name" not in ann:
                continue
            sig = rec.signal
            data = sig.magnitude.ravel().tolist() if type(sig).__name__ == "SpikeTrain" else sig.magnitude.T.ravel().tolist()
            theirs.append({"segment": checkpoint, "device": ann.get("bsb_device_name", ""), "cell_id": int(ann.get("bsb_cell_id", -1)),
                           "data": data, "annotations": {k: plain(v) for k, v in ann.items()}})
    done = subprocess.run([binary, "inspect", path, "--json", "--data"], capture_output=True, text=True)
    if done.returncode != 0:
        return [f"{path}: inspect failed: {done.stderr.strip()}"]
    ours = [{"segment": r["segment"], "device": r["device"] or "", "cell_id": r["cell_id"], "data": r["data"], "annotations": r["annotations"]}
            for r in json.loads(done.stdout)]
    return [f"{os.path.basename(path)} recordings{d}" for d in differences(theirs, ours)]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--dir")
    p.add_argument("files", nargs="*")
    a = p.parse_args()
    work = a.dir or tempfile.mkdtemp(prefix="bsb-reader-")
    os.makedirs(work, exist_ok=True)
    fixtures = []
    for name, make in (("types.nio", fixture_types), ("runs.nio", fixture_runs), ("mux.nio", fixture_multiplexed)):
        path = os.path.join(work, name)
        if os.path.exists(path):
            os.remove(path)
        make(path)
        fixtures.append(path)
    problems = []
    for path in fixtures + a.files:
        found = compare(a.bin, path)
        print(f"compared {os.path.basename(path)} with Neo: {len(found)} differences")
        problems += found
        found = compare_recordings(a.bin, path)
        print(f"compared the recordings of {os.path.basename(path)} with BSB 8.0.2's iter_recordings: {len(found)} differences")
        problems += found
    finish(problems, "DIFFERENCE")


if __name__ == "__main__":
    main()
