"""`NativeResults`, the `after_prepare` hook that switches a simulation to bsb-results
from its configuration alone:

    "after_prepare": {"native": {"strategy": "bsb_results.bsb.NativeResults"}}
"""
import os
import shutil

from bsb import AfterPrepareHook, config

from ._install import native_class


@config.node
class NativeResults(AfterPrepareHook):
    """Replaces the result BSB's adapter made by a `NativeResult` that keeps its
    recorders, and removes what the stock constructor already wrote (its Block in the
    file on one process, the rank parts under MPI)."""

    #: Write each checkpoint into the file as it is flushed.
    streaming: bool = config.attr(type=bool, default=False)

    def postprocess(self, adapter, simulation, simdata):
        old = simdata.result
        new = native_class(type(old))(
            simulation, filename=old.filename, comm=old.comm, simulation_id=old.simulation_id, streaming=self.streaming
        )
        new.recorders = old.recorders
        for recorder in new.recorders:
            if new._writer is not None and recorder.device_name:
                new._writer.add_device(recorder.device_name)
        # NEURON's recorders flush through the result that made them (its vectors).
        if hasattr(old, "_channels"):
            new._channels = old._channels
        _remove_stock_output(old)
        simdata.result = new


def _remove_stock_output(old):
    """Undoes the stock constructor's write: on one process its Block (and the file, when
    that Block is all it holds), under MPI this rank's part and, on rank 0 once every rank
    is done, the parts' directory."""
    part = old.part_filename
    if part is None:
        return
    comm = old.comm
    if comm.get_size() == 1:
        _remove_block(os.fspath(part), old.block_key)
        return
    if os.path.exists(part):
        os.remove(part)
    comm.barrier()
    if comm.get_rank() == 0:
        shutil.rmtree(os.path.dirname(os.fspath(part)), ignore_errors=True)


def _remove_block(path, key):
    import nixio

    with nixio.File.open(path, nixio.FileMode.ReadWrite) as f:
        block = f.blocks[key]
        section = block.metadata
        del f.blocks[key]
        if section is not None and section.name in f.sections:
            del f.sections[section.name]
        empty = len(f.blocks) == 0
    if empty:
        os.remove(path)
