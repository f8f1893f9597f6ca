#!/usr/bin/env python3
"""Read files written by `bsb-results simulate` with Neo's NixIO and check everything.

usage: check_simulate.py --cells N --voltage-cells K --checkpoints C --duration-ms D
                         --resolution-ms R RANKS=FILE [RANKS=FILE ...]

Each FILE must hold one run made with the given parameters on RANKS ranks; the
recordings of all files must be equal (everything but ids, timestamps, hosts, mpi_size).
"""
import argparse
import json
import sys
import uuid
import warnings

import numpy as np

warnings.simplefilter("ignore")
from neo_files import finish, read_blocks  # noqa: E402

BASELINE = ["bsb_device_name", "bsb_device_kind", "bsb_recording_kind", "bsb_simulation_id",
            "bsb_segment_id", "bsb_direction"]
ANCHOR = ["bsb_ps_name", "bsb_cell_id", "bsb_cell_model"]


class Check:
    def __init__(self, path):
        self.path, self.problems = path, []

    def __call__(self, ok, msg):
        if not ok:
            self.problems.append(f"{self.path}: {msg}")
        return ok


def is_str(v):
    return type(v) is str


def is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def is_float(v):
    return isinstance(v, (float, np.floating))


def expected_cell(cell_id):
    return ("golgi_cell", "golgi_iaf") if cell_id % 4 == 3 else ("granule_cell", "granule_iaf")


def check_file(path, ranks, a):
    check = Check(path)
    blocks = read_blocks(path)
    if not check(len(blocks) == 1, f"{len(blocks)} blocks, expected 1"):
        return check.problems, None
    b = blocks[0]
    check(b.name == "simulate", f"block name {b.name!r}")
    keys = [k for k in b.annotations if k != "nix_name"]
    check(keys == ["config", "bsb_simulation_id", "bsb_provenance", "run_index"], f"block annotations {keys}")
    sim_id = b.annotations.get("bsb_simulation_id")
    check(is_str(sim_id) and uuid.UUID(sim_id), "bsb_simulation_id is a UUID string")
    config = json.loads(b.annotations["config"])
    check(config.get("cells") == a.cells and config.get("checkpoints") == a.checkpoints, f"config {config}")
    prov = json.loads(b.annotations["bsb_provenance"])
    check(prov["schema_version"] == 1, "schema_version")
    check(prov["simulation_id"] == sim_id, "provenance simulation_id matches the block")
    check(prov["mpi_size"] == ranks, f"mpi_size {prov['mpi_size']} != {ranks}")
    check([r["mpi_rank"] for r in prov["ranks"]] == list(range(ranks)), f"ranks {prov['ranks']}")
    check(all(r["host"]["hostname"] for r in prov["ranks"]), "every rank has a hostname")
    check(prov["host"] == prov["ranks"][0]["host"], "host is rank 0's")
    check(prov["started_at"] and prov["finished_at"] and prov["wall_seconds"] is not None, "times set")
    check(prov["duration_ms"] == a.duration_ms and prov["resolution_ms"] == a.resolution_ms, "run info")
    check("bsb-results" in prov["plugins"]["results"], "plugins list bsb-results")
    check(prov["simulator"]["name"] == "bsb-results-synthetic", "simulator")
    check(b.annotations["run_index"] == 0 and is_int(b.annotations["run_index"]), "run_index 0")

    check(len(b.segments) == a.checkpoints, f"{len(b.segments)} segments")
    recordings = []
    step = a.duration_ms / a.checkpoints
    n_samples = int(round(step / a.resolution_ms))
    for i, s in enumerate(b.segments):
        sa = s.annotations
        keys = [k for k in sa if k != "nix_name"]
        check(keys == ["segment_id", "checkpoint_index", "t_start_ms", "t_stop_ms", "simulator_state"],
              f"segment {i} annotations {keys}")
        check(is_str(sa["segment_id"]) and uuid.UUID(sa["segment_id"]), "segment_id is a UUID")
        check(is_int(sa["checkpoint_index"]) and sa["checkpoint_index"] == i, f"checkpoint_index {sa['checkpoint_index']}")
        t0, t1 = i * step, (i + 1) * step
        check(is_float(sa["t_start_ms"]) and np.isclose(sa["t_start_ms"], t0), f"t_start_ms {sa['t_start_ms']}")
        check(is_float(sa["t_stop_ms"]) and np.isclose(sa["t_stop_ms"], t1), f"t_stop_ms {sa['t_stop_ms']}")
        check(is_str(sa["simulator_state"]) and "step" in json.loads(sa["simulator_state"]), "simulator_state JSON")

        cells = [st for st in s.spiketrains if "bsb_ps_name" in st.annotations]
        stims = [st for st in s.spiketrains if "bsb_ps_name" not in st.annotations]
        check(len(cells) == a.cells, f"segment {i}: {len(cells)} cell spike trains, expected {a.cells}")
        check(len(stims) == ranks, f"segment {i}: {len(stims)} stimulus trains, expected one per rank")
        tail = s.spiketrains[len(s.spiketrains) - len(stims):]
        check(all(x is y for x, y in zip(tail, stims)), "stimulus trains come last")
        order = [(st.annotations["bsb_ps_name"], st.annotations["bsb_cell_id"]) for st in cells]
        check(order == sorted(order), f"segment {i}: spike trains not ordered by placement set and cell")
        check(sorted(c for _, c in order) == list(range(a.cells)), "one train per cell")
        for st in cells:
            an = st.annotations
            keys = [k for k in an if k != "nix_name"]
            cid = an["bsb_cell_id"]
            if not check(keys == BASELINE + ANCHOR, f"spike train annotations {keys}"):
                continue
            ps, model = expected_cell(int(cid))
            check(an["bsb_device_name"] == "spikes" and an["bsb_device_kind"] == "spike_recorder", "device")
            check(an["bsb_recording_kind"] == "cell" and an["bsb_direction"] == "record", "kind and direction")
            check(an["bsb_simulation_id"] == sim_id and an["bsb_segment_id"] == sa["segment_id"], "ids")
            check(is_int(cid) and is_str(an["bsb_ps_name"]) and is_str(an["bsb_cell_model"]), "anchor types")
            check((an["bsb_ps_name"], an["bsb_cell_model"]) == (ps, model), f"cell {cid} anchor")
            check(st.name == f"{ps}_{cid}", f"train name {st.name!r}")
            check(str(st.units.dimensionality) == "ms", f"units {st.units}")
            check(np.isclose(float(st.t_start), t0) and np.isclose(float(st.t_stop), t1), "t_start/t_stop")
            times = st.magnitude
            check(np.all((times > t0) & (times <= t1)) and np.all(np.diff(times) > 0), "times in the checkpoint, sorted")
            recordings.append(("spikes", i, int(cid), st.name, times.tolist()))
        check(sum(int(st.annotations["bsb_target_count"]) for st in stims) == a.cells, "stimulus targets cover the cells")
        for st in stims:
            an = st.annotations
            check(an["bsb_recording_kind"] == "stimulus" and an["bsb_direction"] == "stimulate", "stimulus kind")
            check(an["bsb_device_name"] == "background" and is_int(an["bsb_target_count"]), "stimulus device")

        k = min(a.voltage_cells, a.cells)
        check(len(s.analogsignals) == 2 * k, f"segment {i}: {len(s.analogsignals)} signals, expected {2 * k}")
        for sig in s.analogsignals:
            an = sig.annotations
            device = an["bsb_device_name"]
            check(sig.shape == (n_samples, 1), f"signal shape {sig.shape}")
            check(str(sig.units.dimensionality) == "mV", f"signal units {sig.units}")
            check(np.isclose(float(sig.sampling_period.rescale("ms")), a.resolution_ms), "sampling period")
            check(np.isclose(float(sig.t_start.rescale("ms")), t0), f"signal t_start {sig.t_start}")
            if device == "vm":
                check(sig.name == "V_m" and an["bsb_recording_kind"] == "cell", "voltmeter signal")
            else:
                check(device == "dendrites" and sig.name == "V_dend", f"signal device {device}")
                check(an["bsb_recording_kind"] == "compartment", "compartment kind")
                check(an["bsb_section"] == "dend" and is_float(an["bsb_arc"]), "section and arc fields")
            recordings.append((device, i, int(an["bsb_cell_id"]), sig.name, sig.magnitude.ravel().tolist()))
    return check.problems, sorted(recordings)


def main():
    p = argparse.ArgumentParser()
    for flag in ("--cells", "--voltage-cells", "--checkpoints"):
        p.add_argument(flag, type=int, required=True)
    p.add_argument("--duration-ms", type=float, required=True)
    p.add_argument("--resolution-ms", type=float, required=True)
    p.add_argument("files", nargs="+")
    a = p.parse_args()
    problems, reference = [], None
    for spec in a.files:
        ranks, path = spec.split("=", 1)
        found, recordings = check_file(path, int(ranks), a)
        problems += found
        if recordings is None:
            continue
        if reference is None:
            reference = (path, recordings)
        elif recordings != reference[1]:
            problems.append(f"{path}: recordings differ from {reference[0]}")
        print(f"checked {path} ({ranks} ranks): {len(recordings)} recordings, {len(found)} problems")
    finish(problems)


if __name__ == "__main__":
    main()
