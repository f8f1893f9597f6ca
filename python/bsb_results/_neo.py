"""``Block.to_neo()``: the Neo objects ``neo.io.NixIO.read_block()`` builds, made from the
light tree without reading the file again. Neo is imported only here."""

import calendar
import time
from datetime import datetime

from ._tree import Quantity


def _when(nix_time):
    """A NIX ``created_at`` (``%Y%m%dT%H%M%S``, UTC) as Neo reads it: local time."""
    if not nix_time:
        return None
    return datetime.fromtimestamp(calendar.timegm(time.strptime(nix_time, "%Y%m%dT%H%M%S")))


def _value(value):
    """A value as nixio hands it to Neo: numbers and bools as numpy scalars."""
    import numpy as np

    if isinstance(value, Quantity):
        import quantities as pq

        return pq.Quantity(value.magnitude, value.units)
    if isinstance(value, bool):
        return np.bool_(value)
    if isinstance(value, int):
        return np.int64(value)
    if isinstance(value, float):
        return np.float64(value)
    if isinstance(value, list):
        return [_value(v) for v in value]
    return value


def _attrs(obj):
    """Neo's constructor keywords: ``nix_name``, ``description``, the annotations, ``name``."""
    attrs = {"nix_name": obj.annotations.get("nix_name"), "description": None}
    attrs.update((k, _value(v)) for k, v in obj.annotations.items())
    attrs["name"] = obj.name
    return attrs


def _spiketrain(t):
    import neo
    import quantities as pq

    return neo.SpikeTrain(times=pq.Quantity(t.times, t.units), t_start=pq.Quantity(t.t_start, t.units),
                          t_stop=pq.Quantity(t.t_stop, t.units), array_annotations=dict(t.array_annotations), **_attrs(t))


def _analogsignal(a):
    import neo
    import quantities as pq

    return neo.AnalogSignal(signal=pq.Quantity(a.samples, a.units), sampling_period=pq.Quantity(a.sampling_period, a.time_units),
                            t_start=pq.Quantity(a.t_start, a.time_units), array_annotations=dict(a.array_annotations), **_attrs(a))


def to_neo(block):
    """The ``neo.Block`` of ``block`` (a ``bsb_results.Block``)."""
    import neo

    out = neo.Block(**_attrs(block))
    out.rec_datetime = _when(block.rec_datetime)
    for s in block.segments:
        seg = neo.Segment(**_attrs(s))
        seg.rec_datetime = _when(s.rec_datetime)
        for t in s.spiketrains:
            seg.spiketrains.append(_spiketrain(t))
        for a in s.analogsignals:
            seg.analogsignals.append(_analogsignal(a))
        out.segments.append(seg)
    out.check_relationships()
    return out
