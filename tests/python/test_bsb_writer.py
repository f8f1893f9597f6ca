"""bsb_results.BlockWriter and bsb_results.bsb.NativeResult on bad input: clear errors,
the same on every rank, and no file left behind. (Real BSB runs, equal to BSB's own
results, are tests/bsb/test_bsb.py.)"""

import os
import warnings

import numpy as np
import pytest

import bsb_results as br
from conftest import on_root


def train(**changes):
    base = {"times": np.array([1.0, 2.0]), "units": "ms", "t_start": 0.0, "t_stop": 10.0, "name": "spikes",
            "annotations": {"bsb_device_name": "d"}, "array_annotations": {"bsb_target_index": np.array([0, 1])}}
    base.update(changes)
    return base


def test_bad_objects_are_refused_where_they_are_pushed(comm):
    writer = br.BlockWriter("run", {"config": "{}"}, comm=comm)
    with pytest.raises(TypeError, match="has no \"times\""):
        writer.push_segment({}, [{"units": "ms"}], [])
    with pytest.raises(TypeError, match="each object must be a dict"):
        writer.push_segment({}, [42], [])
    with pytest.raises(ValueError, match="t_stop 1 is before t_start 5"):
        writer.push_segment({}, [train(t_start=5.0, t_stop=1.0)], [])
    with pytest.raises(ValueError, match="bsb_target_index"):
        writer.push_segment({}, [train(array_annotations={"bsb_target_index": np.array([0, 1, 2])})], [])
    assert writer.buffered == 0


def test_write_errors_are_every_rank_s_and_leave_nothing(comm, shared_dir):
    writer = br.BlockWriter("run", {}, comm=comm)
    with pytest.raises(br.UsageError, match="not written yet"):
        writer.annotate("k", 1)
    missing = os.path.join(shared_dir, "no-such-dir", "run.nio")
    writer.push_segment({"checkpoint_index": 0}, [train()], [])
    with pytest.raises(br.ResultsOSError, match="does not exist"):
        writer.write(missing)
    assert writer.buffered == 1, "a failed write keeps the checkpoint"
    path = os.path.join(shared_dir, "run.nio")
    assert writer.write(path)["objects"] == comm.size
    with pytest.raises(br.UsageError, match="cannot be continued in"):
        writer.write(os.path.join(shared_dir, "other.nio"))
    assert not on_root(lambda: os.path.exists(os.path.join(shared_dir, "other.nio")))


class _Simulation:
    """What NativeResult reads of a BSB simulation."""

    name = "sim"
    duration = 10.0
    resolution = 0.1

    def __tree__(self):
        return {"simulator": "none", "duration": self.duration}


class _Device:
    name = "events"
    device = "event_recorder"


def test_a_conversion_error_on_one_rank_is_every_rank_s_at_finalize(comm, shared_dir):
    from bsb.exceptions import ResultsError
    from neo import Event

    from bsb_results.bsb import NativeResult

    path = os.path.join(shared_dir, "run.nio")
    result = NativeResult(_Simulation(), filename=path, comm=comm)

    def flush(segment):
        if comm.rank == comm.size - 1:
            segment.events.append(Event(np.array([1.0]), units="ms"))

    result.create_recorder(flush, _Device())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result.flush()
    with pytest.raises(ResultsError, match=f"rank {comm.size - 1}: ValueError: a recorder appended 1 events"):
        result.finalize()
    assert not on_root(lambda: os.path.exists(path))
