"""bsb_results: MPI-parallel recording of spikes and signals into one NIX (.nio) file that
Neo reads, for simulations driven from Python (under mpi4py, or as one process).

Every rank creates a :class:`SimulationResult` with the same name and config, registers
its own recorders, and calls the collective methods (``mark_started``, ``flush``,
``mark_finished``, ``write``, ``stream``) equally often and in the same order. Collective
calls release the GIL while they wait on other ranks and while the file is written.

Errors are :class:`ResultsError` subclasses that also derive from the matching built-in
(``ValueError`` for bad input, ``OSError`` for I/O, ``RuntimeError`` for a call that does
not fit the state); wrong types raise ``TypeError`` naming the argument.
"""

from collections.abc import Callable, Iterator, Mapping, Sequence
from os import PathLike
from typing import Any, NamedTuple, Optional, Union

import numpy as np
import numpy.typing as npt

__version__: str

StrPath = Union[str, PathLike[str]]
#: An annotation value: str, bool, int, float, datetime/date/time, a list of one of those
#: (or a 1-D numpy array), or a dict (stored as its JSON text).
AnnotationValue = Any
#: A multiplexed target: a dict of annotations (as BSB's ``multiplex_targets`` takes), or
#: ``(ps_name, cell_id, cell_model)`` / ``(ps_name, cell_id, cell_model, fields)``.
Target = Union[Mapping[str, AnnotationValue], tuple[str, int, str], tuple[str, int, str, Mapping[str, AnnotationValue]]]
#: Numbers: a numpy array of any numeric dtype and layout, or a sequence. float64 arrays
#: cross with one copy into the writer's buffer; other dtypes are converted first.
Numbers = Union[npt.ArrayLike, Sequence[float]]

class ResultsError(Exception):
    """An error of the bsb_results library.

    ``kind``: ``validation``, ``io``, ``hdf5``, ``format``, ``collective``, ``usage`` or
    ``draw``; ``rank``: the rank that failed when the error came from another rank inside
    a collective call (every rank raises the same error), else ``None``."""

    kind: Optional[str]
    rank: Optional[int]

class ValidationError(ResultsError, ValueError):
    """Bad input: a value, name, key or size that the file cannot hold."""

class FormatError(ResultsError, ValueError):
    """The file is not a NIX file this library can read."""

class ResultsOSError(ResultsError, OSError):
    """The operating system refused a file operation."""

class HDF5Error(ResultsError, OSError):
    """The HDF5 library reported an error."""

class CollectiveError(ResultsError, RuntimeError):
    """The ranks were not at the same collective step (for example, flushed a different
    number of times)."""

class UsageError(ResultsError, RuntimeError):
    """A file is in use, or the call does not fit the object's state."""

class DrawError(ResultsError, RuntimeError):
    """A figure could not be drawn."""

class FlushContext:
    """What a recorder sees during a flush on this rank, and what it appends to.

    Each constructor validates the object at once (raising ``ValidationError`` naming it)
    and appends it to this rank's buffer of the checkpoint. ``t_start`` and ``t_stop``
    default to the checkpoint's interval. ``fields`` become ``bsb_<key>`` annotations (the
    contract's kind-specific fields), ``annotations`` are added as given, and
    ``array_annotations`` hold one entry per spike (trains) or per channel (signals). A
    context kept past its flush raises ``UsageError``.
    """

    @property
    def simulation_id(self) -> str:
        """The run's id."""
    @property
    def segment_id(self) -> str:
        """The id of the checkpoint being flushed (shared by every rank)."""
    @property
    def device(self) -> str:
        """The name of the recorder's device."""
    @property
    def device_kind(self) -> str:
        """The kind of the recorder's device."""
    @property
    def checkpoint_index(self) -> int:
        """Which checkpoint this is: 0, 1, 2, ..."""
    @property
    def t_start_ms(self) -> float:
        """Simulation time where this checkpoint starts, in ms."""
    @property
    def t_stop_ms(self) -> float:
        """Simulation time this checkpoint reached, in ms."""
    @property
    def rank(self) -> int:
        """This process's rank."""
    def spike_train(
        self,
        ps_name: str,
        cell_id: int,
        cell_model: str,
        times: Numbers,
        t_stop: Optional[float] = None,
        *,
        t_start: Optional[float] = None,
        name: Optional[str] = None,
        units: Optional[str] = None,
        recording_kind: str = "cell",
        fields: Optional[Mapping[str, AnnotationValue]] = None,
        annotations: Optional[Mapping[str, AnnotationValue]] = None,
        array_annotations: Optional[Mapping[str, AnnotationValue]] = None,
    ) -> None:
        """Appends the spike train of cell ``cell_id`` of placement set ``ps_name``
        (simulated as ``cell_model``) with the contract's annotations: the device's
        baseline and the cell anchor. ``times`` in ``units`` (default ``ms``)."""
    def stimulus_train(
        self,
        times: Numbers,
        targets: int,
        t_stop: Optional[float] = None,
        *,
        t_start: Optional[float] = None,
        name: Optional[str] = None,
        fields: Optional[Mapping[str, AnnotationValue]] = None,
        annotations: Optional[Mapping[str, AnnotationValue]] = None,
        array_annotations: Optional[Mapping[str, AnnotationValue]] = None,
    ) -> None:
        """Appends a stimulus train: the device's own emitted spikes
        (``bsb_recording_kind = "stimulus"``, ``bsb_direction = "stimulate"``,
        ``bsb_target_count = targets``), without a cell anchor."""
    def analog_signal(
        self,
        ps_name: str,
        cell_id: int,
        cell_model: str,
        samples: Numbers,
        sampling_period_ms: float,
        *,
        units: str = "mV",
        name: Optional[str] = None,
        t_start: Optional[float] = None,
        recording_kind: str = "cell",
        fields: Optional[Mapping[str, AnnotationValue]] = None,
        annotations: Optional[Mapping[str, AnnotationValue]] = None,
        array_annotations: Optional[Mapping[str, AnnotationValue]] = None,
    ) -> None:
        """Appends a signal of one cell, named for the recorded quantity (``V_m``):
        ``samples`` 1-D (one channel) or 2-D ``n_samples × n_channels`` (Neo's shape)."""
    def multiplexed_spikes(
        self,
        targets: Sequence[Target],
        times: Numbers,
        target_index: Numbers,
        t_stop: Optional[float] = None,
        *,
        t_start: Optional[float] = None,
        name: Optional[str] = None,
        recording_kind: str = "cell",
        annotations: Optional[Mapping[str, AnnotationValue]] = None,
    ) -> None:
        """Appends one spike train for all ``targets`` (BSB 8's multiplexed form): spike
        ``i`` at ``times[i]`` belongs to ``targets[target_index[i]]`` (integers). The
        roster is written as BSB 8.0.2 writes it, so its ``iter_recordings`` reads it."""
    def multiplexed_signal(
        self,
        targets: Sequence[Target],
        samples: Numbers,
        sampling_period_ms: float,
        *,
        units: str = "mV",
        name: Optional[str] = None,
        t_start: Optional[float] = None,
        recording_kind: str = "cell",
        annotations: Optional[Mapping[str, AnnotationValue]] = None,
    ) -> None:
        """Appends one signal with a channel per target (``samples`` is
        ``n_samples × len(targets)``), the roster as per-channel array annotations."""

class SimulationResult:
    """One simulation run as seen from this rank.

    ``comm`` is an mpi4py intracommunicator; by default ``MPI.COMM_WORLD`` when mpi4py is
    installed, and a run of its own (MPI initialized by this package, finalized at exit)
    when it is not. The communicator is duplicated, never freed. ``config`` is a
    JSON-serializable tree (or JSON text).

    Collective: every rank calls it with the same arguments.
    """

    def __init__(
        self,
        name: str,
        config: Any = None,
        comm: Any = None,
        *,
        duration_ms: Optional[float] = None,
        resolution_ms: Optional[float] = None,
        seed: Optional[int] = None,
    ) -> None: ...
    @property
    def name(self) -> str:
        """The run's name (the Neo Block's name)."""
    @property
    def simulation_id(self) -> str:
        """The run's id, the same on every rank."""
    @property
    def rank(self) -> int:
        """This rank."""
    @property
    def size(self) -> int:
        """The number of ranks."""
    @property
    def config(self) -> Any:
        """The configuration tree."""
    @property
    def provenance(self) -> dict[str, Any]:
        """The provenance object, as it will be written (``bsb_provenance``)."""
    @property
    def streaming(self) -> Optional[str]:
        """The path the result streams into, or ``None``."""
    def set_simulator(self, name: str, version: Optional[str] = None, **extra: Any) -> None:
        """Records the simulator in the provenance; call it alike on every rank."""
    def register_plugin(self, category: str, entry: str, package: str, version: Optional[str] = None) -> None:
        """Adds a plugin to the provenance's ``plugins``."""
    def create_recorder(
        self,
        flush: Callable[[FlushContext], Any],
        device: str,
        kind: Optional[str] = None,
        meta: Optional[Mapping[str, Any]] = None,
        *,
        stimulating: bool = False,
    ) -> None:
        """Registers ``flush(ctx)`` as this rank's recorder of ``device`` (configured as
        ``kind``; ``stimulating`` for devices that inject). At each flush it runs on this
        rank and appends through ``ctx``. A recorder that raises gets the warning
        ``Recorder errored out! rank R, device 'D': ...`` (Python's ``warnings``) and the
        flush goes on; what it appended before raising is kept."""
    def mark_started(self, started_at: Optional[str] = None) -> None:
        """Sets ``started_at`` (now on rank 0, unless given) on every rank. Collective."""
    def mark_finished(self, finished_at: Optional[str] = None, wall_seconds: Optional[float] = None) -> None:
        """Sets ``finished_at`` and ``wall_seconds`` on every rank. Collective."""
    def flush(self, t_stop_ms: Optional[float] = None, simulator_state: Any = None) -> dict[str, Any]:
        """Flushes a checkpoint (one Neo Segment) that ends at ``t_stop_ms`` (default: the
        run's duration): runs this rank's recorders. Collective. Returns
        ``{checkpoint_index, segment_id, spiketrains, analogsignals, failures}``; while
        streaming, the checkpoint is also written and its summary is under ``write``."""
    def flush_until(self, t_stop_ms: float, simulator_state: Any = None) -> dict[str, Any]:
        """``flush`` until simulation time ``t_stop_ms``. Collective."""
    def write(
        self,
        path: StrPath,
        mode: str = "ow",
        *,
        share_properties: bool = True,
        mpio_hints: Optional[Sequence[tuple[str, str]]] = None,
        io: str = "collective",
    ) -> dict[str, Any]:
        """Writes every rank's buffered checkpoints into one NIX file. Collective.

        ``share_properties``: store each repeated property once (Neo reads the file the
        same); ``mpio_hints``: MPI-IO hints such as ``("striping_factor", "8")``; ``io``:
        ``collective`` (one ``MPI_File_write_at_all`` per rank) or ``independent``.

        ``mode``: ``ow`` replaces the file once the new one is complete; ``rw`` adds this
        run beside the runs already in it. Returns a summary like ``simulate``'s JSON
        (``path``, ``ranks``, ``objects``, ``segments``, ``data_bytes``, ``file_bytes``,
        ``write_seconds``, ``metadata_seconds``, ``data_seconds`` and per-rank figures). Any rank's error is raised on every rank."""
    def stream(
        self,
        path: StrPath,
        mode: str = "ow",
        *,
        share_properties: bool = True,
        mpio_hints: Optional[Sequence[tuple[str, str]]] = None,
        io: str = "collective",
    ) -> Stream:
        """Writes every flush from now on into ``path`` as it happens (crash-safe: a run
        killed after checkpoint k leaves checkpoints 0..k). Collective. Use the returned
        :class:`Stream` as a context manager; closing it writes the final provenance.
        A ``stream`` that cannot open its file leaves the result unusable."""

class Stream:
    """A result streaming its flushes into a file; closes it on leaving a ``with`` block."""

    @property
    def result(self) -> SimulationResult: ...
    def flush(self, simulator_state: Any = None) -> dict[str, Any]:
        """Flushes a checkpoint until the run's duration and writes it. Collective."""
    def flush_until(self, t_stop_ms: float, simulator_state: Any = None) -> dict[str, Any]:
        """Flushes a checkpoint that reached ``t_stop_ms`` and writes it. Collective."""
    def close(self) -> dict[str, Any]:
        """Marks the run finished (unless it was) and writes the final provenance;
        returns the totals of every write. Collective."""
    def __enter__(self) -> Stream: ...
    def __exit__(self, exc_type: Any = None, exc_value: Any = None, traceback: Any = None) -> bool: ...

class Quantity(NamedTuple):
    """A number or array with a unit (a ``quantities.Quantity`` in Neo)."""

    magnitude: Any
    units: str

class SpikeTrain:
    """Spike times of one source, read from a file."""

    name: Optional[str]
    times: npt.NDArray[np.float64]
    units: str
    t_start: float
    t_stop: float
    annotations: dict[str, AnnotationValue]
    array_annotations: dict[str, np.ndarray]
    def __len__(self) -> int: ...

class AnalogSignal:
    """A regularly sampled signal, read from a file: ``samples`` is
    ``n_samples × n_channels`` float64 (a view of the channel-major buffer, no copy)."""

    name: Optional[str]
    samples: npt.NDArray[np.float64]
    units: str
    sampling_period: float
    time_units: str
    t_start: float
    t_stop: float
    annotations: dict[str, AnnotationValue]
    array_annotations: dict[str, np.ndarray]

class Segment:
    """One checkpoint of a run."""

    name: Optional[str]
    rec_datetime: Optional[str]
    annotations: dict[str, AnnotationValue]
    spiketrains: list[SpikeTrain]
    analogsignals: list[AnalogSignal]

class Block:
    """One run (a Neo Block): its segments, one per checkpoint. ``rec_datetime`` is NIX's
    ``%Y%m%dT%H%M%S`` (UTC)."""

    name: Optional[str]
    rec_datetime: Optional[str]
    annotations: dict[str, AnnotationValue]
    segments: list[Segment]
    def to_neo(self) -> Any:
        """The ``neo.Block`` that ``neo.io.NixIO(path).read_block()`` returns for this run,
        field by field (needs Neo)."""

class Recording:
    """One recorded target: ``data`` is its :class:`SpikeTrain`, or a one-channel
    :class:`AnalogSignal` of a multiplexed signal; ``annotations`` include its own roster
    entry, as BSB 8's ``iter_recordings`` gives them."""

    segment: int
    ps_name: str
    cell_id: int
    device: str
    name: str
    units: str
    annotations: dict[str, AnnotationValue]
    data: Union[SpikeTrain, AnalogSignal]

class Listed:
    """An object of a run described without its samples (see :meth:`NioFile.list`)."""

    @property
    def segment(self) -> int: ...
    @property
    def kind(self) -> str:
        """``"spiketrain"`` or ``"analogsignal"``."""
    @property
    def name(self) -> Optional[str]: ...
    @property
    def units(self) -> str: ...
    @property
    def time_units(self) -> str: ...
    @property
    def t_start(self) -> float: ...
    @property
    def t_stop(self) -> float: ...
    @property
    def sampling_period(self) -> Optional[float]: ...
    @property
    def n(self) -> int:
        """Spikes of a train, samples per channel of a signal."""
    @property
    def n_channels(self) -> int: ...
    @property
    def annotations(self) -> dict[str, AnnotationValue]: ...
    @property
    def array_annotations(self) -> dict[str, np.ndarray]: ...

class NioFile:
    """An open results file, read lazily (no MPI needed). Opening rolls back an unfinished
    write first."""

    def __init__(self, path: StrPath) -> None: ...
    @property
    def path(self) -> str: ...
    def runs(self) -> list[dict[str, Any]]:
        """The runs of the file, in order: ``{nix_name, name, run_index}``."""
    def list(self, run: Optional[str] = None, run_index: Optional[int] = None, *, annotations: bool = True) -> list[Listed]:
        """Every object of a run (the first, or the one named ``run``), described without
        reading its samples; with ``annotations=False`` without its annotations either."""
    def load(self, listed: Listed) -> Union[SpikeTrain, AnalogSignal]:
        """Reads one listed object's data (and only it)."""
    def read(self, run: Optional[str] = None, run_index: Optional[int] = None) -> Block:
        """Reads a run whole."""
    def close(self) -> None: ...
    def __enter__(self) -> NioFile: ...
    def __exit__(self, *args: Any) -> bool: ...

def read_nio(path: StrPath, run: Optional[str] = None, run_index: Optional[int] = None) -> Block:
    """Reads a run of ``path`` whole: the first, or the one named ``run`` (with
    ``run_index``, or the last of that name). Files of this library and files Neo wrote."""

def read_nio_all(path: StrPath) -> list[Block]:
    """Reads every run of ``path``, in file order."""

def iter_recordings(
    path: StrPath,
    device: Optional[str] = None,
    ps_name: Optional[str] = None,
    cell_id: Optional[int] = None,
    *,
    run: Optional[str] = None,
    run_index: Optional[int] = None,
) -> Iterator[Recording]:
    """One recording per recorded target (objects with a cell anchor) of a run, in file
    order, multiplexed objects demultiplexed exactly as BSB 8.0.2's ``iter_recordings``
    does; only those of ``device``, ``ps_name`` and ``cell_id`` where given."""

def plot(
    path: StrPath,
    out: StrPath,
    *,
    run: Optional[str] = None,
    run_index: Optional[int] = None,
    segments: Union[str, range, tuple[int, int], None] = None,
    bin_ms: Optional[float] = None,
    traces: Optional[int] = None,
    cells: Optional[Sequence[int]] = None,
    width: Optional[int] = None,
    height: Optional[int] = None,
    max_marks: Optional[int] = None,
) -> dict[str, Any]:
    """Draws the figure of a run into ``out`` (``.svg`` or ``.png``) with the code of
    ``bsb-results plot``: a spike raster of every recorded cell, the population rate per
    placement set and up to ``traces`` membrane traces (``cells`` picks them). ``segments``:
    ``"0..3"``, a ``range`` or ``(start, stop)``. Returns what was drawn (spikes, cells,
    placement sets, traces, whether the raster was binned)."""

def mpi_library_version() -> str:
    """The version string of the MPI library the extension is linked with; mpi4py must
    use the same (checked at import, which raises ``ImportError`` otherwise)."""
