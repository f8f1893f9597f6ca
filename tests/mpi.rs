//! Collective behaviour, run as a plain process by `cargo test` and under
//! `mpirun -n 2` / `-n 4` by `scripts/test.sh`. Every test runs on every rank.
//!
//! `mpi [--keep DIR]`: with `--keep`, the files written are left in DIR for the Neo checks.

use std::path::{Path, PathBuf};

use bsb_results::model::{AnalogSignal, SpikeTrain};
use bsb_results::{CellTarget, Device, ErrorKind, FileMode, Io, Meta, RunInfo, SimulationResult, WriteOptions};
use mpi::collective::CommunicatorCollectives;
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::Root;
use serde_json::json;

type Outcome = Result<(), String>;

macro_rules! check {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

fn result(world: &SimpleCommunicator, name: &str) -> SimulationResult {
    let info = RunInfo { seed: Some(1), duration_ms: Some(100.0), resolution_ms: Some(0.1), ..RunInfo::default() };
    SimulationResult::new(world, name, json!({"network": {"cells": 4}}), info).expect("result")
}

/// The same string on every rank?
fn same_everywhere(world: &SimpleCommunicator, s: &str) -> bool {
    let mut mine = [0u8; 64];
    mine[..s.len().min(64)].copy_from_slice(&s.as_bytes()[..s.len().min(64)]);
    let mut all = vec![0u8; 64 * usize::try_from(world.size()).unwrap()];
    world.all_gather_into(&mine[..], &mut all[..]);
    all.chunks(64).all(|c| c == mine)
}

fn ids_agree(world: &SimpleCommunicator, _dir: &Path) -> Outcome {
    let mut r = result(world, "ids");
    check!(same_everywhere(world, r.simulation_id()), "simulation_id differs between ranks");
    check!(uuid::Uuid::parse_str(r.simulation_id()).is_ok(), "simulation_id is not a UUID");
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    r.create_recorder(Device::new("probe", "probe"), Meta::new(), move |ctx| {
        log.lock().unwrap().push(ctx.segment_id().to_owned());
        Ok(())
    })
    .map_err(|e| e.to_string())?;
    check!(r.segment_id().is_none(), "segment_id set outside a flush");
    for i in 0..3 {
        let report = r.flush_until(10.0 * f64::from(i + 1), &json!({})).map_err(|e| e.to_string())?;
        check!(report.checkpoint_index == i as usize, "checkpoint index {}", report.checkpoint_index);
        check!(same_everywhere(world, &report.segment_id), "segment_id of flush {i} differs between ranks");
        check!(seen.lock().unwrap().last() == Some(&report.segment_id), "recorder saw another segment id");
        let a = &r.segments()[i as usize].annotations;
        check!(a.get_str("segment_id") == Some(report.segment_id.as_str()), "segment annotation segment_id");
        check!(a.get_int("checkpoint_index") == Some(i64::from(i)), "segment annotation checkpoint_index");
        check!(a.get("t_start_ms").and_then(|v| v.as_float()) == Some(10.0 * f64::from(i)), "t_start_ms is the previous t_stop");
        check!(a.get("t_stop_ms").and_then(|v| v.as_float()) == Some(10.0 * f64::from(i + 1)), "t_stop_ms");
        check!(a.get_str("simulator_state") == Some("{}"), "simulator_state");
    }
    check!(r.segment_id().is_none(), "segment_id still set after a flush");
    Ok(())
}

fn provenance_from_communicator(world: &SimpleCommunicator, _dir: &Path) -> Outcome {
    let mut r = result(world, "prov");
    r.set_simulator("nest", Some("3.8"), serde_json::Map::from_iter([("threads".to_owned(), json!(2))]));
    r.register_plugin("simulation_backends", "nest", "bsb-nest", Some("6.0"));
    r.mark_started(None).map_err(|e| e.to_string())?;
    r.mark_finished(None, None).map_err(|e| e.to_string())?;
    let p = serde_json::to_value(r.provenance()).unwrap();
    check!(p["mpi_size"] == world.size(), "mpi_size {} != {}", p["mpi_size"], world.size());
    let ranks = p["ranks"].as_array().ok_or("ranks is not a list")?;
    check!(ranks.len() == usize::try_from(world.size()).unwrap(), "ranks has {} entries", ranks.len());
    for (i, entry) in ranks.iter().enumerate() {
        check!(entry["mpi_rank"] == i, "ranks[{i}].mpi_rank");
        check!(entry["host"]["hostname"].as_str().is_some_and(|h| !h.is_empty()), "ranks[{i}].host.hostname");
    }
    check!(p["host"] == ranks[0]["host"], "host is rank 0's");
    check!(p["simulator"] == json!({"name": "nest", "version": "3.8", "extra": {"threads": 2}}), "simulator");
    check!(p["plugins"]["results"]["bsb-results"]["package"] == "bsb-results", "plugins lists this crate");
    check!(p["plugins"]["simulation_backends"]["nest"]["version"] == "6.0", "registered plugin");
    check!(p["seed"] == 1 && p["duration_ms"] == 100.0 && p["resolution_ms"] == 0.1, "run info");
    let (started, finished) = (p["started_at"].as_str().unwrap_or(""), p["finished_at"].as_str().unwrap_or(""));
    check!(same_everywhere(world, started) && same_everywhere(world, finished), "timestamps differ between ranks");
    check!(chrono::DateTime::parse_from_rfc3339(started).is_ok(), "started_at is not ISO 8601: {started}");
    check!(p["wall_seconds"].as_f64().is_some_and(|w| w >= 0.0), "wall_seconds");
    Ok(())
}

fn recorder_failures_are_isolated(world: &SimpleCommunicator, dir: &Path) -> Outcome {
    let mut r = result(world, "isolation");
    let last = world.size() - 1;
    let failing_rank = r.rank() == last;
    r.create_recorder(Device::new("flaky", "spike_recorder"), Meta::new(), move |ctx| {
        let train = ctx.spike_train(&CellTarget::new("ps", 1, "m"), vec![1.0], ctx.t_stop_ms()).build()?;
        ctx.push_spiketrain(train);
        if failing_rank {
            panic!("boom");
        }
        Ok(())
    })
    .map_err(|e| e.to_string())?;
    r.create_recorder(Device::new("broken", "spike_recorder"), Meta::new(), move |_| {
        if failing_rank { Err("disk on fire".into()) } else { Ok(()) }
    })
    .map_err(|e| e.to_string())?;
    r.create_recorder(Device::new("fine", "spike_recorder"), Meta::new(), |ctx| {
        ctx.push_spiketrain(SpikeTrain::builder(vec![2.0], ctx.t_stop_ms()).build()?);
        Ok(())
    })
    .map_err(|e| e.to_string())?;
    let report = r.flush().map_err(|e| e.to_string())?;
    if failing_rank {
        check!(report.failures.len() == 2, "two failures expected, got {:?}", report.failures);
        check!(report.failures[0].device == "flaky" && report.failures[0].error.contains("boom"), "{:?}", report.failures[0]);
        check!(report.failures[1].device == "broken" && report.failures[1].error.contains("disk on fire"), "{:?}", report.failures[1]);
        check!(report.failures.iter().all(|f| f.rank == last), "failures name the rank");
    } else {
        check!(report.failures.is_empty(), "unexpected failures {:?}", report.failures);
    }
    check!(report.spiketrains == 2, "what the failing recorder appended before failing is kept");
    let bare = &r.spiketrains()[1].annotations();
    check!(bare.get_str("bsb_device_name") == Some("fine"), "unlabelled train stamped with its device");
    check!(bare.get_str("bsb_device_kind") == Some("spike_recorder"), "stamped device kind");
    check!(bare.get_str("bsb_simulation_id") == Some(r.simulation_id()), "stamped simulation id");
    check!(bare.get_str("bsb_segment_id") == Some(report.segment_id.as_str()), "stamped segment id");
    check!(bare.get("bsb_recording_kind").is_none(), "recording kind is never guessed");
    r.flush_until(200.0, &json!({})).map_err(|e| format!("the run goes on after a failure: {e}"))?;
    let summary = r.write(dir.join("isolation.nio"), FileMode::Overwrite).map_err(|e| format!("write after a recorder panic: {e}"))?;
    let expected = 4 * usize::try_from(world.size()).unwrap();
    check!(summary.objects == expected, "wrote {} objects, expected {expected}", summary.objects);
    Ok(())
}

fn controller_reads_meta(world: &SimpleCommunicator, _dir: &Path) -> Outcome {
    let mut r = result(world, "meta");
    let geometry = json!({"x": [0.0, 1.0], "y": [2.0, 3.0]});
    let meta = Meta::from([("lfp_source_geometry".to_owned(), geometry.clone())]);
    r.create_recorder(Device::new("vm_purkinje", "voltmeter"), meta, |_| Ok(())).map_err(|e| e.to_string())?;
    r.create_recorder(Device::new("other", "voltmeter"), Meta::new(), |_| Ok(())).map_err(|e| e.to_string())?;
    let found = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = found.clone();
    r.create_recorder(Device::of_type::<LfpProbe>("lfp"), Meta::new(), move |ctx| {
        for rec in ctx.recorders_of(&["vm_purkinje"]) {
            log.lock().unwrap().push((rec.device().name().to_owned(), rec.meta("lfp_source_geometry").cloned()));
        }
        Ok(())
    })
    .map_err(|e| e.to_string())?;
    let rec = r.recorders().find(|x| x.device().name() == "vm_purkinje").ok_or("recorder not listed")?;
    check!(rec.meta("lfp_source_geometry") == Some(&geometry), "meta readable at run time");
    check!(rec.meta("missing").is_none(), "unknown meta is None");
    check!(r.recorders().nth(2).unwrap().device().kind() == "LfpProbe", "device kind falls back to the type name");
    r.flush().map_err(|e| e.to_string())?;
    check!(*found.lock().unwrap() == vec![("vm_purkinje".to_owned(), Some(geometry))], "controller found {:?}", found.lock().unwrap());
    Ok(())
}

struct LfpProbe;

fn rank_without_recorders_takes_part(world: &SimpleCommunicator, dir: &Path) -> Outcome {
    let mut r = result(world, "sparse");
    if r.rank() == 0 {
        r.create_recorder(Device::new("spikes", "spike_recorder"), Meta::new(), |ctx| {
            ctx.push_spiketrain(ctx.spike_train(&CellTarget::new("ps", 0, "m"), vec![5.0], ctx.t_stop_ms()).build()?);
            Ok(())
        })
        .map_err(|e| e.to_string())?;
    }
    r.flush().map_err(|e| e.to_string())?;
    let summary = r.write(dir.join("sparse.nio"), FileMode::Overwrite).map_err(|e| e.to_string())?;
    check!(summary.objects == 1, "one object written, got {}", summary.objects);
    Ok(())
}

fn out_of_step_ranks_all_fail(world: &SimpleCommunicator, dir: &Path) -> Outcome {
    if world.size() == 1 {
        return Ok(());
    }
    let mut r = result(world, "steps");
    let outcome = if r.rank() == 0 { r.flush().map(drop) } else { r.write(dir.join("steps.nio"), FileMode::Overwrite).map(drop) };
    let err = outcome.err().ok_or("ranks at different steps went on")?;
    check!(err.kind() == ErrorKind::Collective, "kind {:?}: {err}", err.kind());
    check!(err.to_string().contains("rank 0 at flush") && err.to_string().contains("rank 1 at write"), "{err}");
    Ok(())
}

fn bad_input_on_one_rank_fails_all(world: &SimpleCommunicator, _dir: &Path) -> Outcome {
    let mut r = result(world, "agree");
    let last = world.size() - 1;
    let t = if r.rank() == last { f64::NAN } else { 50.0 };
    let err = r.flush_until(t, &json!({})).err().ok_or("a bad checkpoint time was accepted")?;
    check!(err.kind() == ErrorKind::Validation, "{err}");
    if world.size() > 1 {
        check!(err.to_string().starts_with(&format!("rank {last} failed")), "error names the failing rank: {err}");
    }
    check!(r.segments().is_empty(), "no segment was opened");
    Ok(())
}

fn write_errors_are_agreed(world: &SimpleCommunicator, _dir: &Path) -> Outcome {
    let mut r = result(world, "bad_path");
    r.flush().map_err(|e| e.to_string())?;
    let err = r.write("/nonexistent/dir/run.nio", FileMode::Overwrite).err().ok_or("write to a missing directory succeeded")?;
    check!(err.kind() == ErrorKind::Io, "{err}");
    check!(err.to_string().contains("/nonexistent/dir/run.nio"), "error names the path: {err}");
    if world.size() > 1 {
        check!(err.to_string().starts_with("rank 0 failed"), "error names the failing rank: {err}");
    }
    Ok(())
}

/// An MPI-IO open that fails on one rank (injected right after `MPI_File_open`): every
/// rank returns the same error, none waits, no file is left, and the result can still be
/// written.
#[cfg(feature = "test-hooks")]
fn open_failure_on_one_rank_fails_all(world: &SimpleCommunicator, dir: &Path) -> Outcome {
    let mut r = result(world, "open_fault");
    r.flush().map_err(|e| e.to_string())?;
    let last = world.size() - 1;
    let fault = bsb_results::Fault { rank: last, write: 0, point: bsb_results::FaultPoint::Open, pause: false };
    let options = WriteOptions::builder().fault(fault).build();
    let path = dir.join("open_fault.nio");
    let err = r.write_with(&path, FileMode::Overwrite, &options).err().ok_or("a write whose open failed on one rank went on")?;
    let text = err.to_string();
    check!(err.kind() == ErrorKind::Io && text.contains("injected fault at Open"), "{text}");
    if world.size() > 1 {
        check!(text.starts_with(&format!("rank {last} failed")), "the error names the failing rank: {text}");
    }
    check!(same_everywhere(world, &text), "every rank returns the same error: {text}");
    check!(!path.exists(), "a failed write leaves no file");
    r.write(&path, FileMode::Overwrite).map_err(|e| format!("the write after a failed open: {e}"))?;
    Ok(())
}

/// Hints MPI cannot hold or the MPI-IO layer does not read fail the write on every rank
/// before any MPI-IO call, naming the hint; the file's hints show in the summary.
fn bad_hints_are_errors(world: &SimpleCommunicator, dir: &Path) -> Outcome {
    let mut r = result(world, "hints");
    r.flush().map_err(|e| e.to_string())?;
    let path = dir.join("hints.nio");
    for (key, value) in [("k".repeat(40), "1"), ("no_such_hint".into(), "1"), ("cb_nodes".into(), "-3")] {
        let options = WriteOptions::builder().mpio_hint(key.clone(), value).build();
        let err = r.write_with(&path, FileMode::Overwrite, &options).err().ok_or(format!("hint {key}={value} was accepted"))?;
        check!(err.kind() == ErrorKind::Validation, "{err}");
        check!(err.to_string().contains(&format!("MPI-IO hint {key}={value}")), "the error names the hint: {err}");
        check!(!path.exists(), "a bad hint leaves no file");
    }
    let good = WriteOptions::builder().mpio_hint("cb_nodes", "1").build();
    let summary = r.write_with(&path, FileMode::Overwrite, &good).map_err(|e| e.to_string())?;
    check!(summary.mpio.io == "collective" && !summary.mpio.layer.is_empty(), "{:?}", summary.mpio);
    check!(summary.mpio.hints.iter().any(|(k, v)| k == "cb_nodes" && v == "1") || r.rank() != 0, "the file's hints as MPI reports them: {:?}", summary.mpio.hints);
    Ok(())
}

/// A file with the shapes Neo must read back: a rank with no objects, a segment with no
/// objects, an empty spike train and a 3-channel signal (checked by `tests/neo/check_shapes.py`).
fn shapes_file(world: &SimpleCommunicator, dir: &Path) -> Outcome {
    let mut r = result(world, "shapes");
    let size = world.size();
    if r.rank() == 0 || size == 1 {
        r.create_recorder(Device::new("lfp", "multimeter"), Meta::new(), |ctx| {
            if ctx.checkpoint_index() == 1 {
                return Ok(());
            }
            let cell = CellTarget::new("purkinje_cell", 7, "pc");
            let channels = vec![vec![-70.0, -69.5, -69.0, -68.5], vec![-65.0, -64.5, -64.0, -63.5], vec![-60.0, -59.5, -59.0, -58.5]];
            let mut annotations = bsb_results::contract::cell_annotations(ctx.device(), &cell, ctx.ids());
            annotations.insert("bsb_sections", vec!["soma", "dend", "axon"]);
            let signal = AnalogSignal::from_channels(channels, "mV", 0.1)
                .name("V_m")
                .t_start(0.2)
                .annotate_all(&annotations)
                .array_annotate("bsb_arc", vec![0.5, 0.25, 0.75])
                .build()?;
            ctx.push_analogsignal(signal);
            ctx.push_spiketrain(ctx.spike_train(&cell, vec![], ctx.t_stop_ms()).name("silent").build()?);
            Ok(())
        })
        .map_err(|e| e.to_string())?;
    }
    if r.rank() == size - 1 && size > 2 {
        r.create_recorder(Device::new("spikes", "spike_recorder"), Meta::new(), |ctx| {
            if ctx.checkpoint_index() == 1 {
                return Ok(());
            }
            let cell = CellTarget::new("granule_cell", 3, "grc");
            let train = ctx.spike_train(&cell, vec![1.5, 20.25, 77.0], ctx.t_stop_ms()).name("granule_cell_3").field("flag", true);
            ctx.push_spiketrain(train.field("weights", vec![0.5, 1.5]).field("tags", vec!["a", "b"]).build()?);
            Ok(())
        })
        .map_err(|e| e.to_string())?;
    }
    r.flush_until(100.0, &json!({})).map_err(|e| e.to_string())?;
    r.flush_until(200.0, &json!({"note": "nothing recorded"})).map_err(|e| e.to_string())?;
    r.write(dir.join("shapes.nio"), FileMode::Overwrite).map_err(|e| e.to_string())?;
    Ok(())
}

/// `rw` adds runs beside those in the file; a name already there gets the next `run_index`
/// (checked by `tests/neo/check_shapes.py`).
fn rw_appends_runs(world: &SimpleCommunicator, dir: &Path) -> Outcome {
    let path = dir.join("append.nio");
    for (name, mode) in [("first", FileMode::Overwrite), ("first", FileMode::Append), ("second", FileMode::Append)] {
        let mut r = result(world, name);
        r.create_recorder(Device::new("spikes", "spike_recorder"), Meta::new(), |ctx| {
            let cell = CellTarget::new("ps", i64::from(ctx.rank()), "m");
            ctx.push_spiketrain(ctx.spike_train(&cell, vec![1.0], ctx.t_stop_ms()).build()?);
            Ok(())
        })
        .map_err(|e| e.to_string())?;
        r.flush().map_err(|e| e.to_string())?;
        r.write(&path, mode).map_err(|e| format!("{name} ({mode:?}): {e}"))?;
    }
    check!(!bsb_results::journal::journal_path(&path).exists(), "no journal left after committed appends");
    Ok(())
}

/// What each rank buffered is what `read_nio` reads back, annotations normalized as NIX
/// stores them (one-element lists become scalars); the lazy API lists and loads the same.
fn round_trip(world: &SimpleCommunicator, dir: &Path) -> Outcome {
    use bsb_results::{Kind, NioFile, Object, Value, multiplex};
    let mut r = result(world, "roundtrip");
    let rank = i64::from(r.rank());
    r.create_recorder(Device::new("spikes", "spike_recorder"), Meta::new(), move |ctx| {
        let t0 = ctx.t_start_ms();
        for cell in [2 * rank, 2 * rank + 1] {
            let times = if cell % 2 == 0 { vec![t0 + 1.0, t0 + 2.5] } else { vec![] };
            let train = ctx.spike_train(&CellTarget::new("grc", cell, "iaf"), times, ctx.t_stop_ms()).t_start(t0).name(format!("c{cell}"));
            let train = train.field("flag", cell % 3 == 0).field("weights", vec![0.5, 1.5]).field("one", vec![7i64]).field("none", Value::StrList(vec![]));
            ctx.push_spiketrain(train.field("when", Value::DateTime("2024-05-06T07:08:09.123456".into())).build()?);
        }
        let targets: Vec<_> = (0..3).map(|i| multiplex::cell_target(&CellTarget::new("goc", 10 * rank + i, "m"), bsb_results::Direction::Record)).collect();
        let mux = SpikeTrain::builder(vec![t0 + 0.5, t0 + 0.7], ctx.t_stop_ms()).t_start(t0).name("mux")
            .annotate_all(&multiplex::multiplex_targets(&targets)?).array_annotate(multiplex::TARGET_INDEX, vec![2i64, 0]);
        ctx.push_spiketrain(mux.build()?);
        let signal = AnalogSignal::from_channels(vec![vec![1.0, 2.0], vec![3.0, 4.0], vec![5.0, 6.0]], "mV", 0.5)
            .name("V").t_start(t0).annotate_all(&bsb_results::contract::cell_annotations(ctx.device(), &CellTarget::new("pc", rank, "pcm"), ctx.ids()))
            .array_annotate("bsb_arc", vec![0.1, 0.2, 0.3]).array_annotate("bsb_section", vec!["a", "b", "c"]);
        ctx.push_analogsignal(signal.build()?);
        Ok(())
    })
    .map_err(|e| e.to_string())?;
    r.flush_until(50.0, &json!({})).map_err(|e| e.to_string())?;
    r.flush_until(100.0, &json!({"x": 1})).map_err(|e| e.to_string())?;
    let strip = |a: &bsb_results::Annotations| -> bsb_results::Annotations { a.iter().filter(|(k, _)| *k != "nix_name").map(|(k, v)| (k, v.clone())).collect() };
    let path = dir.join("roundtrip.nio");
    for (io, file) in [(Io::Independent, "roundtrip_independent.nio"), (Io::Collective, "roundtrip.nio")] {
        let path = dir.join(file);
        let summary = r.write_with(&path, FileMode::Overwrite, &WriteOptions::builder().io(io).build()).map_err(|e| e.to_string())?;
        check!(summary.mpio.io == io.name(), "{:?}", summary.mpio);
        let block = bsb_results::read_nio(&path).map_err(|e| e.to_string())?;
        check!(block.segments.len() == 2, "{} segments", block.segments.len());
        for (mine, read) in r.segments().iter().zip(&block.segments) {
            check!(strip(&read.annotations) == mine.annotations.normalized(), "segment annotations {:?}", read.annotations);
            for t in &mine.spiketrains {
                let found = read.spiketrains.iter().find(|x| x.name() == t.name() && strip(x.annotations()) == t.annotations().normalized());
                let Some(found) = found else { return Err(format!("rank {rank}: train {} not read back", t.describe())) };
                check!(found.times() == t.times() && found.t_start() == t.t_start() && found.t_stop() == t.t_stop() && found.units() == t.units(), "train {} data", t.describe());
                check!(*found.array_annotations() == *t.array_annotations(), "train {} array annotations", t.describe());
            }
            for a in &mine.analogsignals {
                let found = read.analogsignals.iter().find(|x| strip(x.annotations()) == a.annotations().normalized());
                let Some(found) = found else { return Err(format!("rank {rank}: signal {} not read back", a.describe())) };
                let same_data = (0..3).all(|c| found.channel(c) == a.channel(c));
                check!(same_data && found.sampling_period() == a.sampling_period() && found.t_start() == a.t_start(), "signal data");
                check!(*found.array_annotations() == *a.array_annotations(), "signal array annotations {:?}", found.array_annotations());
            }
        }
    }
    let file = NioFile::open(&path).map_err(|e| e.to_string())?;
    let run = file.run("roundtrip", None).map_err(|e| e.to_string())?;
    let bare = file.list(&run, false).map_err(|e| e.to_string())?;
    let expected = 2 * 4 * usize::try_from(world.size()).unwrap();
    check!(bare.objects.len() == expected && bare.objects.iter().all(|o| o.annotations.is_empty()), "bare listing of {} objects", bare.objects.len());
    let listed = file.list(&run, true).map_err(|e| e.to_string())?;
    let signal = listed.objects.iter().find(|o| o.kind == Kind::AnalogSignal && o.annotations.get_int("bsb_cell_id") == Some(rank)).ok_or("my signal is not listed")?;
    check!(signal.n == 2 && signal.n_channels == 3, "listed signal {}x{}", signal.n, signal.n_channels);
    match file.load(signal).map_err(|e| e.to_string())? {
        Object::AnalogSignal(s) => check!(s.channel(2) == [5.0, 6.0], "loaded channel 2 {:?}", s.channel(2)),
        Object::SpikeTrain(_) => return Err("loaded a train for a signal".into()),
    }
    let appended = NioFile::open(dir.join("append.nio")).map_err(|e| e.to_string())?;
    let second = appended.run("first", Some(1)).map_err(|e| e.to_string())?;
    check!(second.run_index == 1 && appended.runs().map_err(|e| e.to_string())?.len() == 3, "run selection");
    check!(appended.run("third", None).is_err(), "a missing run is an error");
    Ok(())
}

type Test = fn(&SimpleCommunicator, &Path) -> Outcome;

const TESTS: &[(&str, Test)] = &[
    ("ids_agree", ids_agree),
    ("provenance_from_communicator", provenance_from_communicator),
    ("recorder_failures_are_isolated", recorder_failures_are_isolated),
    ("controller_reads_meta", controller_reads_meta),
    ("rank_without_recorders_takes_part", rank_without_recorders_takes_part),
    ("out_of_step_ranks_all_fail", out_of_step_ranks_all_fail),
    ("bad_input_on_one_rank_fails_all", bad_input_on_one_rank_fails_all),
    ("write_errors_are_agreed", write_errors_are_agreed),
    ("bad_hints_are_errors", bad_hints_are_errors),
    ("shapes_file", shapes_file),
    ("rw_appends_runs", rw_appends_runs),
    ("round_trip", round_trip),
];

/// The tests that inject faults: with the feature `test-hooks` (`scripts/test.sh` builds
/// with it); without it the run says that they were skipped.
#[cfg(feature = "test-hooks")]
const FAULT_TESTS: &[(&str, Test)] = &[("open_failure_on_one_rank_fails_all", open_failure_on_one_rank_fails_all)];
#[cfg(not(feature = "test-hooks"))]
const FAULT_TESTS: &[(&str, Test)] = &[];

fn main() {
    let universe = mpi::initialize().expect("MPI initializes");
    let world = universe.world();
    let args: Vec<String> = std::env::args().collect();
    let keep = args.iter().position(|a| a == "--keep").and_then(|i| args.get(i + 1)).map(PathBuf::from);
    let dir = shared_dir(&world, keep.as_deref());
    let mut failed = 0u32;
    for (name, test) in TESTS.iter().chain(FAULT_TESTS) {
        let outcome = test(&world, &dir);
        let mut ok = i32::from(outcome.is_ok());
        let mut all_ok = 0;
        world.all_reduce_into(&ok, &mut all_ok, mpi::collective::SystemOperation::min());
        if let Err(e) = &outcome {
            eprintln!("rank {}: {name}: {e}", world.rank());
        }
        ok = all_ok;
        if world.rank() == 0 {
            println!("test {name} ... {}", if ok == 1 { "ok" } else { "FAILED" });
        }
        failed += u32::from(ok == 0);
    }
    if cfg!(not(feature = "test-hooks")) && world.rank() == 0 {
        println!("fault-injection tests skipped (build with --features test-hooks)");
    }
    if keep.is_none() && world.rank() == 0 {
        let _ = std::fs::remove_dir_all(&dir);
    }
    if world.rank() == 0 {
        println!("{} ranks: {} passed, {failed} failed", world.size(), u32::try_from(TESTS.len() + FAULT_TESTS.len()).expect("few tests") - failed);
    }
    drop(world);
    drop(universe);
    if failed > 0 {
        std::process::exit(1);
    }
}

/// A directory every rank writes into: `keep`, or a fresh one made by rank 0.
fn shared_dir(world: &SimpleCommunicator, keep: Option<&Path>) -> PathBuf {
    let mut path = if world.rank() == 0 {
        let dir = keep.map_or_else(|| tempfile::tempdir_in(std::env::temp_dir()).unwrap().keep(), Path::to_path_buf);
        std::fs::create_dir_all(&dir).unwrap();
        let mut bytes = dir.to_string_lossy().into_owned().into_bytes();
        bytes.resize(4096, 0);
        bytes
    } else {
        vec![0u8; 4096]
    };
    world.process_at_rank(0).broadcast_into(&mut path[..]);
    let end = path.iter().position(|b| *b == 0).unwrap_or(path.len());
    PathBuf::from(String::from_utf8_lossy(&path[..end]).into_owned())
}
