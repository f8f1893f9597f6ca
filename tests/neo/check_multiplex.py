#!/usr/bin/env python3
"""Check that BSB 8.0.2's reader demultiplexes `simulate --multiplex` files into exactly the
recordings of the same run written one object per cell.

usage: check_multiplex.py REFERENCE.nio RANKS=MULTIPLEXED.nio [RANKS=MULTIPLEXED.nio ...]
"""
import os
import sys
import warnings

os.environ.setdefault("BSB_IGNORE_PARALLEL", "1")
warnings.simplefilter("ignore")
import numpy as np  # noqa: E402
from bsb.simulation.results import iter_recordings  # noqa: E402
from neo_files import finish, read_block  # noqa: E402

ANCHOR = ("bsb_device_name", "bsb_device_kind", "bsb_recording_kind", "bsb_direction", "bsb_ps_name",
          "bsb_cell_id", "bsb_cell_model", "bsb_section", "bsb_arc")


def recordings(block, via_bsb):
    """{(device, checkpoint, cell): (data, anchor annotations)} of the cell recordings."""
    checkpoint = {s.annotations["segment_id"]: int(s.annotations["checkpoint_index"]) for s in block.segments}
    if via_bsb:
        signals = [r.signal for r in iter_recordings(block)]
    else:
        signals = [o for s in block.segments for o in [*s.spiketrains, *s.analogsignals]]
    out = {}
    for sig in signals:
        an = sig.annotations
        if "bsb_cell_id" not in an:
            continue
        key = (an["bsb_device_name"], checkpoint[an["bsb_segment_id"]], int(an["bsb_cell_id"]))
        data = np.asarray(sig.magnitude).ravel().tolist()
        anchor = {k: (v.item() if hasattr(v, "item") else v) for k, v in an.items() if k in ANCHOR}
        if key in out:
            raise AssertionError(f"{key} recorded twice")
        out[key] = (data, anchor, float(sig.t_start.rescale("ms")), str(sig.units.dimensionality))
    return out


def main():
    reference = recordings(read_block(sys.argv[1]), via_bsb=False)
    problems = []
    for spec in sys.argv[2:]:
        ranks, path = spec.split("=", 1)
        block = read_block(path)
        for s in block.segments:
            muxed = [o for o in [*s.spiketrains, *s.analogsignals] if o.annotations.get("bsb_multiplexed")]
            trains = [o for o in s.spiketrains if o.annotations.get("bsb_multiplexed")]
            if len(trains) > int(ranks):
                problems.append(f"{path}: {len(trains)} multiplexed spike trains, at most one per rank expected")
            for o in muxed:
                if o.annotations["bsb_multiplexed"] is not np.True_ and o.annotations["bsb_multiplexed"] is not True:
                    problems.append(f"{path}: bsb_multiplexed is {o.annotations['bsb_multiplexed']!r}, not a bool")
            for t in trains:
                if len(t.array_annotations["bsb_target_index"]) != len(t):
                    problems.append(f"{path}: bsb_target_index does not have one entry per spike")
        got = recordings(block, via_bsb=True)
        if set(got) != set(reference):
            missing, extra = set(reference) - set(got), set(got) - set(reference)
            problems.append(f"{path}: targets differ: {len(missing)} missing (e.g. {sorted(missing)[:3]}), {len(extra)} extra")
        for key in sorted(set(got) & set(reference)):
            if got[key] != reference[key]:
                problems.append(f"{path}: recording {key} differs: {got[key][1]} vs {reference[key][1]}")
                break
        print(f"checked {path} ({ranks} ranks): BSB 8 recovered {len(got)} of {len(reference)} targets")
    finish(problems)


if __name__ == "__main__":
    main()
