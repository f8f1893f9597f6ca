#!/usr/bin/env python3
"""Read the edge-case files of `tests/mpi.rs` with Neo: shapes.nio and sparse.nio.

usage: check_shapes.py RANKS=DIR [RANKS=DIR ...]   (DIR is what `mpi --keep DIR` wrote)
"""
import sys
import warnings

import numpy as np

warnings.simplefilter("ignore")
from neo_files import finish, read_block, read_blocks  # noqa: E402


def check(ranks, d):
    problems = []

    def need(ok, msg):
        if not ok:
            problems.append(f"{d} ({ranks} ranks): {msg}")

    b = read_block(f"{d}/shapes.nio")
    need(len(b.segments) == 2, f"{len(b.segments)} segments")
    first, empty = b.segments
    need(len(empty.spiketrains) == 0 and len(empty.analogsignals) == 0, "the second segment has no objects")
    need(empty.annotations["simulator_state"] == '{"note":"nothing recorded"}', "simulator_state JSON string")
    need(len(first.analogsignals) == 1, f"{len(first.analogsignals)} signals")
    sig = first.analogsignals[0]
    expected = np.array([[-70.0, -65.0, -60.0], [-69.5, -64.5, -59.5], [-69.0, -64.0, -59.0], [-68.5, -63.5, -58.5]])
    need(sig.shape == (4, 3) and np.array_equal(sig.magnitude, expected), f"3-channel data {sig.magnitude.tolist()}")
    need(sig.name == "V_m" and str(sig.units.dimensionality) == "mV", "signal name and units")
    need(np.isclose(float(sig.t_start.rescale("ms")), 0.2), f"t_start {sig.t_start}")
    need(np.isclose(float(sig.sampling_period.rescale("ms")), 0.1), f"sampling_period {sig.sampling_period}")
    need(list(sig.array_annotations["bsb_arc"]) == [0.5, 0.25, 0.75], f"per-channel array annotation {sig.array_annotations}")
    need(sig.annotations["bsb_sections"] == ["soma", "dend", "axon"], "string list annotation")
    need(sig.annotations["bsb_cell_id"] == 7, "signal cell id")
    names = [st.name for st in first.spiketrains]
    # Devices first ('lfp' and 'spikes' are each their rank's first device: by name), then cells.
    expected_names = ["silent", "granule_cell_3"] if ranks > 2 else ["silent"]
    need(names == expected_names, f"spike trains {names}, expected {expected_names}")
    silent = first.spiketrains[0]
    need(silent.shape == (0,) and float(silent.t_stop) == 100.0, "empty spike train")
    if ranks > 2:
        g = first.spiketrains[-1]
        need(g.magnitude.tolist() == [1.5, 20.25, 77.0], "spike times")
        need(type(g.annotations["bsb_flag"]) is np.bool_ and bool(g.annotations["bsb_flag"]), "bool stays bool")
        need(g.annotations["bsb_weights"] == [0.5, 1.5], "float list")
        need(g.annotations["bsb_tags"] == ["a", "b"], "string list")

    runs = [(b.name, int(b.annotations["run_index"]), len(b.segments[0].spiketrains)) for b in read_blocks(f"{d}/append.nio")]
    need(runs == [("first", 0, ranks), ("first", 1, ranks), ("second", 0, ranks)], f"appended runs {runs}")

    s = read_block(f"{d}/sparse.nio")
    need(len(s.segments) == 1 and len(s.segments[0].spiketrains) == 1, "ranks without recorders add nothing")
    need(s.segments[0].spiketrains[0].magnitude.tolist() == [5.0], "rank 0's train")
    return problems


def main():
    problems = []
    for spec in sys.argv[1:]:
        ranks, d = spec.split("=", 1)
        found = check(int(ranks), d)
        print(f"checked {d} ({ranks} ranks): {len(found)} problems")
        problems += found
    finish(problems)


if __name__ == "__main__":
    main()
