"""Writing from Python: the contract through Neo, equality with `bsb-results simulate`,
appends, streaming, and a recorder that raises on one rank."""

import math
import os
import subprocess
import warnings

import numpy as np
import pytest

import bsb_results as br
import network
from conftest import binary, on_root, plain_env

CONTRACT_TYPES = {
    "bsb_device_name": str, "bsb_device_kind": str, "bsb_recording_kind": str, "bsb_simulation_id": str,
    "bsb_segment_id": str, "bsb_direction": str, "bsb_ps_name": str, "bsb_cell_id": int, "bsb_cell_model": str,
}


def neo_read(path):
    from neo.io import NixIO

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        io = NixIO(path, mode="ro")
        try:
            return io.read_all_blocks()
        finally:
            io.close()


def typed(value, kind):
    """Whether a value Neo read is of the contract's type (numpy scalars count)."""
    if kind is int:
        return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    return isinstance(value, kind)


def test_neo_reads_every_contract_annotation_with_its_type(comm, shared_dir):
    path = os.path.join(shared_dir, "contract.nio")
    result = br.SimulationResult("contract", {"cells": 8, "nested": {"a": [1, 2]}}, comm, duration_ms=50.0, resolution_ms=0.1, seed=3)
    cell = 100 + comm.rank

    def spikes(ctx):
        ctx.spike_train("granule_cell", cell, "iaf_cond_alpha", np.array([1.5, 20.0]), name=f"granule_{cell}",
                        fields={"weight": 0.5, "tags": ["a", "b"], "flag": True})

    def voltages(ctx):
        ctx.analog_signal("purkinje_cell", cell, "pc", np.linspace(-70.0, -60.0, 500), sampling_period_ms=0.1, units="mV", name="V_m",
                          recording_kind="compartment", fields={"section": "soma", "arc": 0.5})

    def stimulus(ctx):
        ctx.stimulus_train(np.array([2.0, 4.0]), targets=3, name=f"stim_{comm.rank}")

    result.create_recorder(spikes, device="spikes", kind="spike_recorder", meta={"interval": 0.1})
    result.create_recorder(voltages, device="vm", kind="voltmeter")
    result.create_recorder(stimulus, device="poisson", kind="poisson_generator", stimulating=True)
    result.mark_started()
    result.flush()
    result.mark_finished()
    summary = result.write(path, mode="ow")
    assert summary["objects"] == 3 * comm.size and summary["ranks"] == comm.size and summary["segments"] == 1
    assert summary["path"] == path and summary["write_seconds"] > 0 and len(summary["data_bytes_by_rank"]) == comm.size

    def check():
        (block,) = neo_read(path)
        assert block.name == "contract"
        assert block.annotations["bsb_simulation_id"] == result.simulation_id
        assert "nested" in block.annotations["config"]
        seg = block.segments[0]
        assert seg.annotations["checkpoint_index"] == 0 and seg.annotations["t_stop_ms"] == 50.0
        trains = {t.name: t for t in seg.spiketrains}
        for rank in range(comm.size):
            t = trains[f"granule_{100 + rank}"]
            for key, kind in CONTRACT_TYPES.items():
                assert typed(t.annotations[key], kind), (key, t.annotations[key])
            assert (t.annotations["bsb_device_name"], t.annotations["bsb_device_kind"], t.annotations["bsb_direction"]) == ("spikes", "spike_recorder", "record")
            assert (t.annotations["bsb_ps_name"], int(t.annotations["bsb_cell_id"]), t.annotations["bsb_cell_model"]) == ("granule_cell", 100 + rank, "iaf_cond_alpha")
            assert t.annotations["bsb_segment_id"] == seg.annotations["segment_id"]
            assert t.annotations["bsb_weight"] == 0.5 and list(t.annotations["bsb_tags"]) == ["a", "b"] and t.annotations["bsb_flag"] == True  # noqa: E712 (numpy bool)
            assert typed(t.annotations["bsb_weight"], float) and typed(t.annotations["bsb_flag"], np.bool_)
            assert t.magnitude.tolist() == [1.5, 20.0] and str(t.units.dimensionality) == "ms"
            stim = trains[f"stim_{rank}"]
            assert stim.annotations["bsb_recording_kind"] == "stimulus" and stim.annotations["bsb_direction"] == "stimulate"
            assert int(stim.annotations["bsb_target_count"]) == 3 and "bsb_cell_id" not in stim.annotations
        signals = [a for a in seg.analogsignals if a.annotations["bsb_device_name"] == "vm"]
        assert len(signals) == comm.size
        for a in signals:
            assert a.name == "V_m" and a.shape == (500, 1) and str(a.units.dimensionality) == "mV"
            assert a.annotations["bsb_recording_kind"] == "compartment" and a.annotations["bsb_section"] == "soma"
            assert float(a.sampling_period.rescale("ms").magnitude) == pytest.approx(0.1)
            np.testing.assert_allclose(a.magnitude[:, 0], np.linspace(-70.0, -60.0, 500))
    on_root(check)


def recordings(path):
    """Every recording of the file, without the ids that differ between two runs."""
    out = []
    for r in br.iter_recordings(path):
        annotations = {k: v for k, v in r.annotations.items() if k not in ("nix_name", "bsb_simulation_id", "bsb_segment_id")}
        data = r.data.times if hasattr(r.data, "times") else r.data.samples
        out.append(((r.segment, r.device, r.ps_name, r.cell_id, r.name), r.units, annotations, data.tolist()))
    return sorted(out, key=lambda x: x[0])


@pytest.mark.parametrize("multiplex", [False, True], ids=["per-cell", "multiplexed"])
def test_equals_rust_simulate_recording_for_recording(comm, shared_dir, multiplex):
    ours = os.path.join(shared_dir, "python.nio")
    summary = network.run(ours, comm, multiplex=multiplex)
    assert summary["ranks"] == comm.size

    def check():
        theirs = os.path.join(shared_dir, "rust.nio")
        done = subprocess.run([binary(), "simulate", *network.simulate_args(multiplex=multiplex), "--out", theirs],
                              env=plain_env(), capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        a, b = recordings(ours), recordings(theirs)
        assert len(a) == len(b) == 3 * 60 + 2 * 3 * 5
        for x, y in zip(a, b):
            assert x == y, f"{x[0]} differs"
        spikes = sum(len(x[3]) for x in a if x[0][1] == "spikes")
        assert spikes > 300
    on_root(check)


def test_rw_appends_a_run_beside_the_first(comm, shared_dir):
    path = os.path.join(shared_dir, "runs.nio")
    for name, mode, io in (("first", "ow", "collective"), ("second", "rw", "independent"), ("second", "rw", "collective")):
        result = br.SimulationResult(name, {}, comm, duration_ms=10.0)
        result.create_recorder(lambda ctx: ctx.spike_train("p", comm.rank, "m", [1.0 + ctx.rank]), device="d", kind="k")
        result.flush()
        result.write(path, mode=mode, io=io, share_properties=name == "first")

    def check():
        runs = br.NioFile(path).runs()
        assert [(r["name"], r["run_index"]) for r in runs] == [("first", 0), ("second", 0), ("second", 1)]
        blocks = br.read_nio_all(path)
        assert [len(b.segments[0].spiketrains) for b in blocks] == [comm.size] * 3
        assert br.read_nio(path, run="second", run_index=0).name == "second"
        assert len(neo_read(path)) == 3
    on_root(check)


def test_stream_writes_every_flush_as_it_happens(comm, shared_dir):
    path = os.path.join(shared_dir, "stream.nio")
    result = br.SimulationResult("streamed", {}, comm, duration_ms=300.0, resolution_ms=0.1)
    result.create_recorder(lambda ctx: ctx.spike_train("p", comm.rank, "m", [ctx.t_stop_ms]), device="d", kind="k")
    result.mark_started()
    with result.stream(path) as stream:
        assert result.streaming == path
        for t in (100.0, 200.0):
            report = stream.flush_until(t)
            assert report["write"]["objects"] == comm.size and report["checkpoint_index"] == (0 if t == 100.0 else 1)
            assert on_root(lambda: len(br.read_nio(path).segments)) == (1 if t == 100.0 else 2)
        with pytest.raises(br.UsageError, match="streaming"):
            result.write(path)
        report = result.flush()  # the run's end, streamed too
        assert report["write"]["segments"] == 1
    assert result.streaming is None

    def check():
        block = br.read_nio(path)
        assert [s.annotations["t_stop_ms"] for s in block.segments] == [100.0, 200.0, 300.0]
        assert sorted(t.times[0] for t in block.segments[2].spiketrains) == [300.0] * comm.size
        import json
        assert json.loads(block.annotations["bsb_provenance"])["finished_at"] is not None
    on_root(check)


def test_a_recorder_that_raises_on_one_rank_is_warned_about_and_the_flush_goes_on(comm, shared_dir):
    path = os.path.join(shared_dir, "raises.nio")
    unlucky = comm.size - 1
    result = br.SimulationResult("raises", {}, comm, duration_ms=10.0)

    def flaky(ctx):
        ctx.spike_train("p", 2 * ctx.rank, "m", [1.0])
        if ctx.rank == unlucky:
            raise RuntimeError("simulator lost the device")
        ctx.spike_train("p", 2 * ctx.rank + 1, "m", [2.0])

    result.create_recorder(flaky, device="flaky", kind="spike_recorder")
    result.create_recorder(lambda ctx: ctx.spike_train("q", ctx.rank, "m", [3.0]), device="steady", kind="spike_recorder")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = result.flush()
    messages = [str(w.message) for w in caught if "Recorder errored out!" in str(w.message)]
    if comm.rank == unlucky:
        assert messages == [f"Recorder errored out! rank {unlucky}, device 'flaky': RuntimeError: simulator lost the device"]
        assert report["failures"] == [{"rank": unlucky, "device": "flaky", "error": "RuntimeError: simulator lost the device"}]
        assert report["spiketrains"] == 2  # what it appended before raising is kept
    else:
        assert messages == [] and report["failures"] == [] and report["spiketrains"] == 3
    summary = result.write(path)
    assert summary["objects"] == 3 * comm.size - 1

    def check():
        ids = sorted((r.device, r.cell_id) for r in br.iter_recordings(path))
        want = sorted([("flaky", 2 * r) for r in range(comm.size)] + [("flaky", 2 * r + 1) for r in range(comm.size) if r != unlucky]
                      + [("steady", r) for r in range(comm.size)])
        assert ids == want
    on_root(check)


def test_numpy_inputs_of_any_layout_and_numeric_dtype(comm, shared_dir):
    path = os.path.join(shared_dir, "layouts.nio")
    samples = np.arange(30.0).reshape(10, 3)
    inputs = {
        "strided": np.arange(10.0)[::2],
        "float32": np.array([1.5, 2.5], dtype=np.float32),
        "int32": np.array([1, 2, 3], dtype=np.int32),
        "list": [4.0, 5.0],
    }
    result = br.SimulationResult("layouts", {}, comm, duration_ms=20.0)

    def flush(ctx):
        for name, times in inputs.items():
            ctx.spike_train("p", 0, "m", times, name=name)
        ctx.analog_signal("p", 0, "m", samples, 0.5, name="c_order")
        ctx.analog_signal("p", 0, "m", np.asfortranarray(samples), 0.5, name="f_order")
        ctx.analog_signal("p", 0, "m", samples[::2, ::2], 0.5, name="strided2d")
        ctx.multiplexed_spikes([{"bsb_ps_name": "p", "bsb_cell_id": 7}], [1.0, 2.0], np.array([0, 0], dtype=np.int32), name="mux")

    result.create_recorder(flush, device="d", kind="k")
    result.flush()
    result.write(path)

    def check():
        seg = br.read_nio(path).segments[0]
        trains = {t.name: t for t in seg.spiketrains}  # every rank wrote the same objects
        for name, times in inputs.items():
            assert trains[name].times.dtype == np.float64
            assert trains[name].times.tolist() == np.asarray(times, dtype=np.float64).tolist()
        assert trains["mux"].array_annotations["bsb_target_index"].tolist() == [0, 0]
        signals = {a.name: a for a in seg.analogsignals}
        for name, want in (("c_order", samples), ("f_order", samples), ("strided2d", samples[::2, ::2])):
            assert signals[name].samples.shape == want.shape and signals[name].samples.tolist() == want.tolist()
    on_root(check)


def test_an_interrupt_in_a_recorder_ends_the_flush_on_every_rank_first(comm):
    """Ctrl-C inside a recorder: the flush completes on every rank (no rank is left in a
    collective call), then the interrupt is raised."""
    result = br.SimulationResult("interrupt", {}, comm, duration_ms=10.0)

    def interrupted(ctx):
        ctx.spike_train("p", ctx.rank, "m", [ctx.t_stop_ms])
        if ctx.checkpoint_index == 0:
            raise KeyboardInterrupt

    result.create_recorder(interrupted, device="d", kind="k")
    result.create_recorder(lambda ctx: ctx.spike_train("q", ctx.rank, "m", [ctx.t_stop_ms]), device="e", kind="k")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(KeyboardInterrupt):
            result.flush()
    assert result.flush_until(20.0)["spiketrains"] == 2  # the run goes on in step


def test_the_gil_is_released_while_the_file_is_written(comm, shared_dir):
    """Another Python thread runs while write() is in the library: it wakes every
    millisecond and notes the time; with the GIL held, no wake could fall inside the write."""
    import threading
    import time

    result = br.SimulationResult("gil", {}, comm, duration_ms=1000.0)
    result.create_recorder(lambda ctx: [ctx.spike_train("p", 10000 * ctx.rank + c, "m", np.arange(1.0, 20.0)) for c in range(5000)],
                           device="d", kind="k")
    result.flush()
    wakes, running = [], threading.Event()
    running.set()

    def wake():
        while running.is_set():
            time.sleep(0.001)
            wakes.append(time.perf_counter())

    thread = threading.Thread(target=wake)
    thread.start()
    start = time.perf_counter()
    summary = result.write(os.path.join(shared_dir, "gil.nio"))
    end = time.perf_counter()
    running.clear()
    thread.join()
    assert summary["objects"] == 5000 * comm.size
    assert end - start > 0.05, "the write was too short to tell"
    inside = [t for t in wakes if start + 0.02 < t < end - 0.02]
    assert len(inside) >= 5, f"the other thread woke {len(inside)} times during a {end - start:.2f} s write"
