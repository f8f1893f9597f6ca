"""Neo objects into the native buffers: what BSB's recorders appended to a checkpoint's
`neo.Segment`, as the segment `BlockWriter.push_segment` takes, every annotation and
array annotation kept with its type."""
import numpy as np

#: The Neo containers BSB's recorders fill (`bsb.simulation.results._RECORDING_LISTS`).
RECORDING_LISTS = ("spiketrains", "analogsignals")
#: Neo containers nothing here can write: a recorder filling one is refused, not dropped.
UNWRITABLE = ("events", "epochs", "irregularlysampledsignals", "imagesequences")


def _units(quantity):
    return quantity.units.dimensionality.string


def _annotations(obj):
    return {k: v for k, v in obj.annotations.items() if k != "nix_name"}


def _arrays(obj):
    return {k: np.asarray(v) for k, v in obj.array_annotations.items()}


def spike_train(train):
    """A `neo.SpikeTrain` as the native writer takes it (times in their own units)."""
    if train.waveforms is not None:
        raise ValueError(f"spike train {train.name!r} carries waveforms, which BSB's results never hold")
    units = _units(train)
    return {
        "times": np.asarray(train.magnitude, dtype=np.float64).ravel(),
        "units": units,
        "t_start": float(train.t_start.rescale(units).magnitude),
        "t_stop": float(train.t_stop.rescale(units).magnitude),
        "name": train.name,
        "annotations": _annotations(train),
        "array_annotations": _arrays(train),
    }


def analog_signal(signal):
    """A `neo.AnalogSignal` (n_samples × n_channels) as the native writer takes it."""
    period = signal.sampling_period
    time_units = _units(period)
    return {
        "samples": np.asarray(signal.magnitude, dtype=np.float64),
        "units": _units(signal),
        "sampling_period": float(period.magnitude),
        "time_units": time_units,
        "t_start": float(signal.t_start.rescale(time_units).magnitude),
        "name": signal.name,
        "annotations": _annotations(signal),
        "array_annotations": _arrays(signal),
    }


def segment(seg):
    """A checkpoint's `neo.Segment` as `(annotations, spike trains, signals, name)`.

    :raises ValueError: the segment holds objects of a kind BSB's results never hold.
    """
    for kind in UNWRITABLE:
        if getattr(seg, kind, None):
            raise ValueError(f"a recorder appended {len(getattr(seg, kind))} {kind} to checkpoint "
                             f"{seg.annotations.get('checkpoint_index')}; only spike trains and analog signals are written")
    return (
        _annotations(seg),
        [spike_train(t) for t in seg.spiketrains],
        [analog_signal(s) for s in seg.analogsignals],
        seg.name,
    )
