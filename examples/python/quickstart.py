"""Record spikes and a signal on every rank from Python, write one file, read it back and
check it.

    python examples/python/quickstart.py
    mpirun -n 2 python examples/python/quickstart.py
"""

import os
import tempfile

import numpy as np

import bsb_results as br

try:
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
except ImportError:  # a plain process without mpi4py: bsb_results runs as one rank
    comm = None

result = br.SimulationResult("quickstart", config={"cells": 2}, comm=comm, duration_ms=100.0, resolution_ms=0.1, seed=7)
rank = result.rank


def spikes(ctx):
    """Each rank records its own cells: one spike train per cell."""
    for cell in (2 * rank, 2 * rank + 1):
        ctx.spike_train("granule_cell", cell, "iaf_cond_alpha", np.array([1.5, 20.0 + cell]), name=f"granule_{cell}")


def voltage(ctx):
    """...and the membrane potential of one of them."""
    samples = -65.0 + np.sin(np.arange(1000) / 50.0)
    ctx.analog_signal("granule_cell", 2 * rank, "iaf_cond_alpha", samples, sampling_period_ms=0.1, units="mV", name="V_m",
                      fields={"section": "soma"})


result.create_recorder(spikes, device="spikes", kind="spike_recorder")
result.create_recorder(voltage, device="vm", kind="voltmeter", meta={"sampling_period_ms": 0.1})
result.mark_started()
result.flush()  # a checkpoint: one Neo Segment
result.mark_finished()
path = os.path.join(tempfile.gettempdir(), "bsb-results-quickstart-py.nio")
summary = result.write(path, mode="ow")  # collective: every rank writes its share

# Every rank may read the file: one recording per cell and device.
recordings = list(br.iter_recordings(path))
assert len(recordings) == 3 * result.size
block = br.read_nio(path)
train = next(t for t in block.segments[0].spiketrains if t.name == "granule_1")
assert train.times.tolist() == [1.5, 21.0] and train.annotations["bsb_cell_id"] == 1
signal = next(a for a in block.segments[0].analogsignals if a.annotations["bsb_cell_id"] == 0)
assert signal.samples.shape == (1000, 1) and signal.annotations["bsb_section"] == "soma"
if rank == 0:
    print(f"wrote {summary['objects']} objects from {summary['ranks']} rank(s) to {path}; read back {len(recordings)} recordings")
