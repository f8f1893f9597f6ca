"""bsb_results: MPI-parallel recording of spikes and signals into one NIX (.nio) file
that Neo reads, for simulations driven from Python (under mpi4py or as one process).

Writing::

    from mpi4py import MPI
    import numpy as np, bsb_results as br
    result = br.SimulationResult("net", config={"cells": 100}, comm=MPI.COMM_WORLD,
                                 duration_ms=100.0, resolution_ms=0.1, seed=7)
    def flush(ctx):
        ctx.spike_train("granule_cell", 42, "iaf_cond_alpha", np.array([1.5, 20.0]))
    result.create_recorder(flush, device="spikes", kind="spike_recorder")
    result.mark_started(); result.flush(); result.mark_finished()
    summary = result.write("run.nio", mode="ow")

Reading: ``read_nio``, ``iter_recordings``, ``NioFile``; figures: ``plot``. The
extension and mpi4py must use the same MPI library (checked at import).
"""

import atexit as _atexit

from . import _native
from ._errors import (CollectiveError, DrawError, FormatError, HDF5Error, ResultsError, ResultsOSError, UsageError,
                      ValidationError)
from ._native import BlockWriter, FlushContext, Listed, NioFile, SimulationResult, Stream, read_nio, read_nio_all
from ._tree import AnalogSignal, Block, Quantity, Recording, Segment, SpikeTrain

__version__ = _native.__version__

__all__ = [
    "SimulationResult", "Stream", "BlockWriter", "FlushContext", "read_nio", "read_nio_all", "iter_recordings", "NioFile", "Listed",
    "plot", "Block", "Segment", "SpikeTrain", "AnalogSignal", "Recording", "Quantity", "ResultsError",
    "ValidationError", "FormatError", "ResultsOSError", "HDF5Error", "CollectiveError", "UsageError", "DrawError",
    "mpi_library_version",
]


def mpi_library_version():
    """The version string of the MPI library the extension is linked with."""
    return _native.mpi_library_version()


def iter_recordings(path, device=None, ps_name=None, cell_id=None, *, run=None, run_index=None):
    """One ``Recording`` per recorded target of a run (the first, or the one named ``run``),
    multiplexed objects demultiplexed as BSB 8's ``iter_recordings`` does; only those of
    ``device``, ``ps_name`` and ``cell_id`` where given."""
    return iter(_native.iter_recordings(path, device, ps_name, cell_id, run=run, run_index=run_index))


def plot(path, out, *, run=None, run_index=None, segments=None, bin_ms=None, traces=None, cells=None, width=None,
         height=None, max_marks=None):
    """Draws the figure of a run of ``path`` into ``out`` (``.svg`` or ``.png``): the spike
    raster, the population rates and up to ``traces`` membrane traces, with the same code
    as ``bsb-results plot``. Returns a dict describing what was drawn."""
    return _native.plot(path, out, run=run, run_index=run_index, segments=segments, bin_ms=bin_ms, traces=traces,
                        cells=cells, width=width, height=height, max_marks=max_marks)


def _check_mpi():
    """Refuses to load next to an mpi4py built against another MPI library: both would
    talk to different MPIs in one process."""
    try:
        import mpi4py  # noqa: F401  (the package alone: MPI is not initialized yet)
    except ModuleNotFoundError:
        return
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError(f"bsb_results: mpi4py is installed but does not load ({e}); bsb_results needs an mpi4py built "
                          f"against the MPI library it was built with: {_native.mpi_library_version().strip()}") from e
    ours, theirs = _native.mpi_library_version().strip(), MPI.Get_library_version().strip()
    if ours != theirs:
        raise ImportError(
            "bsb_results and mpi4py use different MPI libraries, which cannot share one process.\n"
            f"  bsb_results: {ours}\n  mpi4py:      {theirs}\n"
            "Rebuild mpi4py against the system MPI (pip install --no-binary mpi4py --force-reinstall mpi4py) "
            "or use Debian's python3-mpi4py.")


_check_mpi()
# MPI is finalized at exit when the extension initialized it (no mpi4py).
_atexit.register(_native.finalize)
