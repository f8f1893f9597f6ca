"""Every error path raises the right exception, with a message naming what is wrong, on
every rank, and nothing crashes the interpreter."""

import os

import numpy as np
import pytest

import bsb_results as br
from conftest import on_root


def test_the_hierarchy_matches_the_builtins():
    assert issubclass(br.ValidationError, ValueError) and issubclass(br.FormatError, ValueError)
    assert issubclass(br.ResultsOSError, OSError) and issubclass(br.HDF5Error, OSError)
    assert issubclass(br.UsageError, RuntimeError) and issubclass(br.CollectiveError, RuntimeError)
    for cls in (br.ValidationError, br.FormatError, br.ResultsOSError, br.HDF5Error, br.UsageError, br.CollectiveError, br.DrawError):
        assert issubclass(cls, br.ResultsError)


def test_bad_arguments_of_a_result(comm):
    with pytest.raises(ValueError, match="run name"):
        br.SimulationResult("", {}, comm)
    with pytest.raises(TypeError, match="mpi4py intracommunicator"):
        br.SimulationResult("x", {}, comm="COMM_WORLD")
    with pytest.raises(TypeError, match="config must be JSON-serializable"):
        br.SimulationResult("x", {"f": object()}, comm)
    result = br.SimulationResult("x", {}, comm, duration_ms=10.0)
    with pytest.raises(TypeError, match="callable"):
        result.create_recorder(42, device="d", kind="k")
    with pytest.raises(ValueError, match="device name cannot be empty"):
        result.create_recorder(lambda ctx: None, device="", kind="k")
    with pytest.raises(ValueError, match="file mode: \"xx\" is not one of 'ow', 'rw'"):
        result.write("never.nio", mode="xx")
    with pytest.raises(ValueError, match="'collective', 'independent'"):
        result.write("never.nio", io="parallel")
    result.flush_until(5.0)
    with pytest.raises(ValueError, match="before the previous checkpoint's end"):
        result.flush_until(1.0)


def test_bad_objects_inside_a_recorder(comm, shared_dir):
    """What a recorder passes is checked as it is made: the recorder sees the exception."""
    seen = []
    kept = []

    def flush(ctx):
        def expect(exception, match, call):
            with pytest.raises(exception, match=match) as info:
                call()
            seen.append(type(info.value).__name__)

        expect(TypeError, "times must be an array of numbers", lambda: ctx.spike_train("p", 1, "m", ["a", "b"]))
        expect(TypeError, "times must be an array of numbers", lambda: ctx.spike_train("p", 1, "m", np.array([1 + 2j])))
        expect(ValueError, "times.*1-dimensional", lambda: ctx.spike_train("p", 1, "m", np.zeros((2, 2))))
        expect(ValueError, "non-finite", lambda: ctx.spike_train("p", 1, "m", [float("nan")]))
        expect(ValueError, r"outside \[t_start", lambda: ctx.spike_train("p", 1, "m", [99.0]))
        expect(ValueError, "samples.*1-dimensional or 2-dimensional", lambda: ctx.analog_signal("p", 1, "m", np.zeros((2, 2, 2)), 0.1))
        expect(ValueError, "sampling period", lambda: ctx.analog_signal("p", 1, "m", [1.0], 0.0))
        expect(TypeError, "target_index must be an array of numbers \\(int64\\)", lambda: ctx.multiplexed_spikes([("p", 1, "m")], [1.0], [0.5]))
        expect(ValueError, "target index 3", lambda: ctx.multiplexed_spikes([("p", 1, "m")], [1.0], [3]))
        expect(ValueError, "one channel per target", lambda: ctx.multiplexed_signal([("p", 1, "m")], np.zeros((4, 2)), 0.1))
        expect(ValueError, "None cannot be stored", lambda: ctx.spike_train("p", 1, "m", [1.0], annotations={"x": None}))
        expect(TypeError, "cannot be stored", lambda: ctx.spike_train("p", 1, "m", [1.0], annotations={"x": object()}))
        expect(ValueError, "reserved", lambda: ctx.spike_train("p", 1, "m", [1.0], annotations={"nix_name": "x"}))
        expect(TypeError, "each target must be", lambda: ctx.multiplexed_spikes([3], [1.0], [0]))
        kept.append(ctx)

    result = br.SimulationResult("errors", {}, comm, duration_ms=10.0)
    result.create_recorder(flush, device="d", kind="k")
    report = result.flush()
    assert report["failures"] == [] and report["spiketrains"] == 0
    assert seen[0] == "TypeError" and "ValidationError" in seen
    with pytest.raises(br.UsageError, match="flush that is over"):
        kept[0].spike_train("p", 1, "m", [1.0])


def test_io_and_format_errors(comm, shared_dir):
    result = br.SimulationResult("io", {}, comm, duration_ms=10.0)
    result.create_recorder(lambda ctx: ctx.spike_train("p", ctx.rank, "m", [1.0]), device="d", kind="k")
    result.flush()
    with pytest.raises(OSError) as info:
        result.write(os.path.join(shared_dir, "no", "such", "dir", "x.nio"))
    assert "no/such/dir" in str(info.value)
    with pytest.raises(OSError):
        result.stream(os.path.join(shared_dir, "no", "such", "dir", "y.nio"))
    with pytest.raises(br.UsageError, match="consumed"):
        result.flush()

    def check():
        missing = os.path.join(shared_dir, "missing.nio")
        with pytest.raises(OSError, match="missing.nio"):
            br.read_nio(missing)
        text = os.path.join(shared_dir, "text.nio")
        with open(text, "w") as f:
            f.write("not hdf5")
        with pytest.raises(br.FormatError, match="text.nio"):
            br.read_nio(text)
        with pytest.raises(ValueError):
            br.NioFile(text)
        with pytest.raises(ValueError, match="segment range"):
            br.plot(text, os.path.join(shared_dir, "x.svg"), segments="zero")
        with pytest.raises(ValueError, match=r"\.svg or \.png"):
            br.plot(text, os.path.join(shared_dir, "x.jpg"))
        return True
    assert on_root(check)
