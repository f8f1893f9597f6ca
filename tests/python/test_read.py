"""Reading from Python: the tree with numpy data, iter_recordings against BSB 8.0.2's,
lazy loading, to_neo() against Neo's read_block(), and plot()."""

import os
import warnings

import numpy as np
import pytest

import bsb_results as br
import network
from conftest import on_root


@pytest.fixture
def written(comm, shared_dir):
    """simulate's network written from Python, per cell and multiplexed."""
    paths = {}
    for multiplex in (False, True):
        paths[multiplex] = os.path.join(shared_dir, f"net-{multiplex}.nio")
        network.run(paths[multiplex], comm, multiplex=multiplex, cells=24, checkpoints=2, duration_ms=200.0)
    return paths


def neo_block(path):
    from neo.io import NixIO

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        io = NixIO(path, mode="ro")
        try:
            return io.read_block()
        finally:
            io.close()


def test_tree_has_numpy_data_and_python_annotations(written):
    def check():
        block = br.read_nio(written[False])
        assert block.name == "simulate" and len(block.segments) == 2
        seg = block.segments[0]
        assert seg.annotations["checkpoint_index"] == 0 and isinstance(seg.annotations["segment_id"], str)
        train = next(t for t in seg.spiketrains if t.annotations["bsb_device_name"] == "spikes")
        assert isinstance(train.times, np.ndarray) and train.times.dtype == np.float64 and train.units == "ms"
        assert isinstance(train.annotations["bsb_cell_id"], int) and train.t_stop == 100.0
        signal = next(a for a in seg.analogsignals if a.annotations["bsb_device_name"] == "dendrites")
        assert signal.samples.shape == (200, 1) and signal.samples.dtype == np.float64
        assert isinstance(signal.annotations["bsb_arc"], float) and signal.sampling_period == 0.5
        mux = br.read_nio(written[True]).segments[0]
        vm = next(a for a in mux.analogsignals if a.name == "V_m")
        assert vm.samples.shape[1] == len(vm.array_annotations["bsb_cell_id"]) and isinstance(vm.array_annotations["bsb_cell_id"], np.ndarray)
    on_root(check)


def bsb_recordings(path):
    """BSB 8.0.2's iter_recordings over Neo's read of the file."""
    from bsb.simulation.results import iter_recordings

    out = []
    for i, seg in enumerate(neo_block(path).segments):
        for rec in iter_recordings(seg):
            ann = rec.signal.annotations
            if "bsb_ps_name" not in ann:
                continue
            sig = rec.signal
            data = sig.magnitude.ravel() if type(sig).__name__ == "SpikeTrain" else sig.magnitude[:, 0]
            out.append((i, ann.get("bsb_device_name", ""), int(ann.get("bsb_cell_id", -1)), data.tolist(), plain(ann)))
    return out


def plain(annotations):
    def value(v):
        if isinstance(v, np.ndarray):
            return [value(x) for x in v.tolist()]
        if isinstance(v, (list, tuple)):
            return [value(x) for x in v]
        if isinstance(v, np.generic):
            return v.item()
        return v
    return {k: value(v) for k, v in annotations.items() if k != "nix_name"}


def test_iter_recordings_equals_bsb_8s(written):
    def check():
        os.environ.setdefault("BSB_IGNORE_PARALLEL", "1")
        for path in written.values():
            theirs = bsb_recordings(path)
            ours = [(r.segment, r.device, r.cell_id, (r.data.times if hasattr(r.data, "times") else r.data.samples[:, 0]).tolist(),
                     plain(r.annotations)) for r in br.iter_recordings(path)]
            assert len(ours) == len(theirs) == 2 * (24 + 2 * 5)
            for a, b in zip(sorted(ours, key=repr), sorted(theirs, key=repr)):
                assert a == b
        only = list(br.iter_recordings(written[True], device="vm", cell_id=3))
        assert [(r.device, r.cell_id, r.segment) for r in only] == [("vm", 3, 0), ("vm", 3, 1)]
        assert all(r.ps_name == "golgi_cell" for r in br.iter_recordings(written[False], ps_name="golgi_cell"))
    on_root(check)


def test_lazy_loading_reads_only_what_is_asked(written, shared_dir):
    def check():
        import h5py
        import shutil

        path = os.path.join(shared_dir, "damaged.nio")
        shutil.copy(written[False], path)
        f = br.NioFile(path)
        listed = f.list()
        first, second = listed[:2]
        assert (first.kind, second.kind) == ("spiketrain", "spiketrain")
        assert first.n > 0 and first.annotations["bsb_device_name"] == "spikes"
        assert f.list(annotations=False)[0].annotations == {}
        f.close()
        # Replace the second train's spike times by text of the same length: listing and
        # loading the first still work; only loading the second reads them and fails.
        with h5py.File(path, "r+") as h5:
            tags = []
            h5.visititems(lambda name, obj: tags.append(obj) if name.endswith("multi_tags") else None)
            (mt,) = [t for group in tags for t in group.values() if t.attrs.get("name") == second.annotations["nix_name"].encode()][:1]
            values = mt["positions"]
            n = values["data"].shape[0]
            del values["data"]
            values.create_dataset("data", data=np.array(["x"] * n, dtype=h5py.string_dtype()))
        with br.NioFile(path) as f:
            listed = f.list()
            assert len(listed) == len(br.NioFile(written[False]).list())
            assert f.load(listed[0]).times.tolist() == br.read_nio(written[False]).segments[0].spiketrains[0].times.tolist()
            with pytest.raises(br.FormatError, match="does not hold numbers"):
                f.load(listed[1])
            assert f.load(listed[2]).annotations["nix_name"] == listed[2].annotations["nix_name"]
        with pytest.raises(br.UsageError, match="closed"):
            f.list()
    on_root(check)


def test_to_neo_equals_neos_read_block_field_by_field(written):
    from reader_vs_neo import canonical_neo, differences

    def check():
        for path in written.values():
            theirs = neo_block(path)
            ours = br.read_nio(path).to_neo()
            assert differences(canonical_neo(theirs), canonical_neo(ours)) == []
            assert (ours.name, ours.description, ours.rec_datetime) == (theirs.name, theirs.description, theirs.rec_datetime)
            for s, t in zip(ours.segments, theirs.segments):
                assert (s.name, s.description, s.rec_datetime) == (t.name, t.description, t.rec_datetime)
                for a, b in zip(s.spiketrains, t.spiketrains):
                    assert (a.t_start, a.t_stop, a.units, a.name, a.description) == (b.t_start, b.t_stop, b.units, b.name, b.description)
                    assert a.segment is s
                for a, b in zip(s.analogsignals, t.analogsignals):
                    assert (a.t_start, a.sampling_period, a.units, a.shape) == (b.t_start, b.sampling_period, b.units, b.shape)
                    assert [type(v) for v in a.annotations.values()] == [type(v) for v in b.annotations.values()]
    on_root(check)


def test_plot_draws_every_spike(written, shared_dir):
    def check():
        spikes = sum(len(t.times) for s in br.read_nio(written[False]).segments for t in s.spiketrains
                     if t.annotations.get("bsb_ps_name"))
        svg = os.path.join(shared_dir, "run.svg")
        summary = br.plot(written[False], svg, traces=3)
        assert summary["spikes"] == spikes and summary["cells"] == 24 and os.path.getsize(svg) > 0
        assert {p["name"] for p in summary["placement_sets"]} == {"granule_cell", "golgi_cell"}
        assert len(summary["traces"]) == 3
        png = os.path.join(shared_dir, "run.png")
        one = br.plot(written[True], png, segments="1..2", width=800)
        assert one["segments"] == {"start": 1, "end": 2} and one["width"] == 800
        with open(png, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
        with pytest.raises(ValueError, match="segment"):
            br.plot(written[True], png, segments=range(0, 9))
    on_root(check)
