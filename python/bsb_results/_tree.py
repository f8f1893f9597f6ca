"""The light object tree the reader returns: runs, segments, spike trains and signals
with numpy data and annotations as Python values (``Block.to_neo()`` builds Neo's)."""

from typing import Any, NamedTuple


class Quantity(NamedTuple):
    """A number or array of numbers with a unit (a ``quantities.Quantity`` in Neo)."""

    magnitude: Any
    units: str


class _Plain:
    __slots__ = ()

    def __init__(self, **fields):
        for k, v in fields.items():
            setattr(self, k, v)

    def __repr__(self):
        shown = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._shown)
        return f"{type(self).__name__}({shown})"


class SpikeTrain(_Plain):
    """Spike times of one source: ``times`` (1-D float64 numpy array, in ``units``)."""

    __slots__ = ("name", "times", "units", "t_start", "t_stop", "annotations", "array_annotations")
    _shown = ("name", "units", "t_start", "t_stop")

    def __len__(self):
        return len(self.times)


class AnalogSignal(_Plain):
    """Regularly sampled values: ``samples`` is ``n_samples × n_channels`` (float64)."""

    __slots__ = ("name", "samples", "units", "sampling_period", "time_units", "t_start", "t_stop",
                 "annotations", "array_annotations")
    _shown = ("name", "units", "sampling_period", "t_start")


class Segment(_Plain):
    """One checkpoint of a run: its spike trains and analog signals."""

    __slots__ = ("name", "rec_datetime", "annotations", "spiketrains", "analogsignals")
    _shown = ("name", "rec_datetime")


class Block(_Plain):
    """One run: its segments, one per checkpoint."""

    __slots__ = ("name", "rec_datetime", "annotations", "segments")
    _shown = ("name", "rec_datetime")

    def to_neo(self):
        """The ``neo.Block`` that ``neo.io.NixIO(...).read_block()`` returns for this run."""
        from ._neo import to_neo

        return to_neo(self)


class Recording(_Plain):
    """One recorded target: ``data`` is its ``SpikeTrain``, or a one-channel
    ``AnalogSignal`` of a multiplexed signal; ``annotations`` include its own roster entry."""

    __slots__ = ("segment", "ps_name", "cell_id", "device", "name", "units", "annotations", "data")
    _shown = ("segment", "ps_name", "cell_id", "device", "name")
