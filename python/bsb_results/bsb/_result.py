"""`NativeResult`: BSB 8.0.2's `SimulationResult`, written by bsb-results.

Everything a BSB adapter and its devices see is BSB's own: the constructor's signature,
`add`, `create_recorder`, `flush` (a `neo.Segment` with BSB's segment annotations handed
to each recorder, BSB's warning on a failing recorder, its unlabelled warning and
baseline stamp). What differs is where the recordings go: at each flush the Neo objects
are converted into the native writer's buffers, and `finalize` writes every rank's
buffers into the one file in one collective write; there are no part files and no merge.
"""
import os
import shutil
import traceback
import uuid
from datetime import datetime

from bsb.exceptions import ResultsError
from bsb.reporting import warn
from bsb.services.mpi import MPIService
from bsb.simulation.results import SimulationResult, _recording_counts, _stamp_baseline, _warn_unlabelled
from bsb.storage.provenance import encode_annotation

from .. import _native
from . import _convert


def _service(comm):
    """BSB's MPIService for `comm`: the service itself, an mpi4py communicator, or None
    (the world)."""
    return comm if hasattr(comm, "get_communicator") else MPIService(comm)


class NativeResult(SimulationResult):
    """The result of one simulation run, written by bsb-results.

    :param simulation: The simulation.
    :param filename: The results file. A file that exists gets this run as one more
      Block, with the next `run_index` (on any number of ranks); without a filename the
      results stay in memory (`block`) until `write`.
    :param comm: BSB's `MPIService` or an mpi4py communicator; the world by default.
    :param simulation_id: The run's id, the same on every rank (BSB's adapters agree one).
    :param streaming: Write each checkpoint into the file as it is flushed, so a run
      killed later keeps it (default: the class's `streaming`, set by `install`).
    """

    #: Whether results with a filename are written at every flush rather than at `finalize`.
    streaming = False

    def __init__(self, simulation, filename=None, comm=None, simulation_id=None, *, streaming=None):
        from neo import Block

        self.comm = _service(comm)
        self.simulation = simulation
        self.recorders = []
        self.checkpoint_index = 0
        self._t_cursor = 0.0
        self.simulation_id = simulation_id or str(uuid.uuid4())
        self.filename = filename
        # BSB's name for the file this rank writes: the one file, for every rank.
        self.part_filename = filename
        if streaming is not None:
            self.streaming = streaming
        self._finalized = False

        provenance = self._build_provenance(simulation)
        # Every rank's host, where BSB's merge keeps rank 0's alone.
        provenance["ranks"] = [entry for ranks in self.comm.allgather(provenance["ranks"]) for entry in ranks]
        block = Block(
            name=simulation.name,
            config=encode_annotation(simulation.__tree__(), "simulation configuration with the results"),
        )
        block.annotate(
            bsb_simulation_id=self.simulation_id,
            bsb_provenance=encode_annotation(provenance, "simulation provenance"),
        )
        block.rec_datetime = datetime.now()
        self._block = block
        self._writer = None if filename is None else self._new_writer(block)

    def _new_writer(self, block):
        """The native writer of `block`'s name and annotations, as a run written to a file
        carries them (`sim_name`; `run_index` comes with the write). Collective."""
        annotations = {**block.annotations, "sim_name": block.name}
        return _native.BlockWriter(block.name, annotations, comm=self.comm.get_communicator())

    @property
    def block(self):
        """The results as a Neo Block, when they are kept in memory (no filename)."""
        if self._writer is not None:
            raise RuntimeError(
                f"Results are written to '{self.filename}'; read them back from the file, not from the result object."
            )
        return self._block

    def create_recorder(self, flush, device):
        recorder = super().create_recorder(flush, device)
        if self._writer is not None and getattr(device, "name", None):
            self._writer.add_device(device.name)
        return recorder

    def flush(self):
        """One checkpoint: each recorder appends to a new `neo.Segment` as in BSB, then the
        segment goes into the native buffers (and into the file, when streaming)."""
        from neo import Segment

        segment = Segment()
        t_stop = float(getattr(self.simulation, "duration", 0.0) or 0.0)
        segment_id = f"{self.simulation_id}:{self.checkpoint_index}"
        segment.annotate(
            segment_id=segment_id,
            checkpoint_index=self.checkpoint_index,
            t_start_ms=self._t_cursor,
            t_stop_ms=t_stop,
            mpi_rank=self.comm.get_rank(),
        )
        for recorder in self.recorders:
            before = _recording_counts(segment)
            try:
                recorder.flush(segment)
            except Exception:
                traceback.print_exc()
                warn("Recorder errored out!")
            finally:
                _warn_unlabelled(segment, before, recorder)
                _stamp_baseline(segment, before, recorder, self.simulation_id, segment_id)
        self.checkpoint_index += 1
        self._t_cursor = t_stop
        if self._writer is None:
            self._block.segments.append(segment)
            return
        self._push(segment)
        if self.streaming:
            self._write(self.filename)

    def _push(self, segment, writer=None):
        """Converts a segment into the native buffers. A failure is kept, not raised: the
        next write, which every rank reaches, raises it on every rank."""
        try:
            annotations, trains, signals, name = _convert.segment(segment)
            (writer or self._writer).push_segment(annotations, trains, signals, name=name)
        except Exception as error:
            self._failure = f"rank {self.comm.get_rank()}: {type(error).__name__}: {error}"

    def _write(self, filename, mode="rw", writer=None):
        """One collective write of every rank's buffered checkpoints (`rw`: a file that
        exists gets the run as one more Block; later writes add to that Block)."""
        failures = [f for f in self.comm.allgather(getattr(self, "_failure", None)) if f]
        if failures:
            raise ResultsError(
                f"Results of '{self.simulation.name}' were not written to '{filename}': {'; '.join(failures)}"
            )
        return (writer or self._writer).write(os.fspath(filename), mode)

    def finalize(self):
        """Writes the run into `filename`: one collective write of every rank's
        checkpoints (when streaming, they are in the file already). No part files, no
        merge; every rank returns once the file is complete."""
        if self._writer is None or self._finalized:
            return
        if not self.streaming or not self.checkpoint_index:
            self._write(self.filename)
        self._finalized = True

    def write(self, filename, mode="ow"):
        """Writes the results to `filename` (`ow`: replace it; `rw`: add the run to it).
        Collective. Results that went to a file are copied from it once finalized."""
        if self._writer is not None:
            self.finalize()
            if self.comm.get_rank() == 0:
                shutil.copyfile(self.filename, filename)
            self.comm.barrier()
            return
        writer = self._new_writer(self._block)
        for device in dict.fromkeys(getattr(r.device, "name", None) for r in self.recorders):
            if device:
                writer.add_device(device)
        for segment in self._block.segments:
            self._push(segment, writer)
        return self._write(filename, mode, writer)
