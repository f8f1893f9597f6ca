//! `simulate`: a synthetic network run that exercises the whole API on every rank.
//!
//! Cells `0..N` are dealt to ranks in contiguous blocks; each cell's activity comes from a
//! generator seeded by `(seed, cell, checkpoint)`, so the recordings do not depend on the
//! number of ranks. Devices: a spike recorder over all cells, a voltmeter and a
//! compartment recorder over the first K cells, and a stimulus device that emits one
//! train per rank and checkpoint.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use std::ops::Range;

use bsb_results::model::AnalogSignal;
use bsb_results::{
    Annotations, CellTarget, Device, Direction, FileMode, FlushContext, Io, Meta, RecorderError, RunInfo, SimulationResult,
    Value, WriteOptions, WriteOptionsBuilder, WriteSummary, multiplex,
};
use mpi::collective::{CommunicatorCollectives, SystemOperation};
use mpi::topology::{Communicator, SimpleCommunicator};
use serde_json::json;

use bsb_results::synthetic::{Rng, poisson, trace};

use super::interrupt;
use super::limits::{self, Shape};
use super::progress::Reporter;

/// Run a synthetic network on every rank and write one .nio file.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Args {
    /// Cells in the network (ids 0..N-1), dealt to the ranks in contiguous blocks.
    #[arg(long, default_value_t = 1000, allow_negative_numbers = true)]
    cells: u64,
    /// Simulated time in ms.
    #[arg(long, default_value_t = 1000.0, value_parser = limits::positive_ms, allow_negative_numbers = true)]
    duration_ms: f64,
    /// Time step in ms: spike times lie on this grid and signals are sampled at it.
    #[arg(long, default_value_t = 0.1, value_parser = limits::positive_ms, allow_negative_numbers = true)]
    resolution_ms: f64,
    /// Number of checkpoints (flushes), at least 1; each becomes one segment.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..), allow_negative_numbers = true)]
    checkpoints: u32,
    /// How many cells (the first K) the voltmeter and the compartment recorder watch.
    #[arg(long, default_value_t = 10, allow_negative_numbers = true)]
    voltage_cells: u64,
    /// Mean firing rate of each cell in Hz (at most one spike per time step).
    #[arg(long, default_value_t = 20.0, value_parser = limits::rate_hz, allow_negative_numbers = true)]
    rate_hz: f64,
    /// Seed of the activity generators.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// The .nio file to write.
    #[arg(long, default_value = "run.nio")]
    out: PathBuf,
    /// `ow` replaces the file once the new one is complete; `rw` adds this run beside
    /// the runs already in it.
    #[arg(long, default_value = "ow")]
    mode: FileMode,
    /// The run's name (the Neo Block's name).
    #[arg(long, default_value = "simulate")]
    name: String,
    /// No progress output (the JSON summary is still printed).
    #[arg(long)]
    quiet: bool,
    /// Write every property as its own dataset, as Neo does, instead of storing each
    /// repeated property once and hard-linking it (Neo reads both the same).
    #[arg(long)]
    no_sharing: bool,
    /// Multiplexed recordings (BSB 8): per rank and checkpoint, one spike train for all
    /// cells (with a roster and per-spike target indices) and one multi-channel signal per
    /// voltage device, instead of one object per cell.
    #[arg(long)]
    multiplex: bool,
    /// An MPI-IO hint for the ranks' data phase, e.g. `striping_factor=8` (Lustre) or
    /// `romio_cb_write=enable` (collective buffering; ROMIO only). Repeat for several.
    /// Collective writes use `cb_buffer_size=4194304` unless one is given, and hand MPI-IO at
    /// most half of it per call.
    #[arg(long = "mpio-hint", value_name = "KEY=VALUE", value_parser = parse_hint)]
    mpio_hints: Vec<(String, String)>,
    /// How the ranks write their data: `collective` (one MPI_File_write_at_all per rank
    /// and checkpoint) or `independent` (one MPI_File_write_at per dataset).
    #[arg(long, default_value = "collective")]
    io: Io,
    /// Each rank's data of a checkpoint starts on a multiple of this many bytes, apart
    /// from the metadata and the other ranks' data (the stripe size on Lustre).
    #[arg(long, default_value_t = bsb_results::DEFAULT_ALIGN)]
    align: u64,
    /// Write each checkpoint into the file as it is flushed (crash-safe: a run killed
    /// after checkpoint k leaves checkpoints 0..k), instead of all at the end.
    #[arg(long)]
    stream: bool,
    /// Wall-clock milliseconds each checkpoint spends "computing" (a sleep), to mimic a
    /// real simulation between flushes.
    #[arg(long, default_value_t = 0)]
    compute_ms: u64,
    /// Fault injection for tests: `WRITE:POINT:RANK:ACTION` with POINT open|layout|data|commit
    /// and ACTION pause|fail (pause prints PAUSED and waits to be killed, or until the file
    /// named by $BSB_FAULT_RESUME exists). Built with the feature `test-hooks` only.
    #[cfg(feature = "test-hooks")]
    #[arg(long, hide = true)]
    fault: Option<bsb_results::Fault>,
}

/// `KEY=VALUE` → `(KEY, VALUE)`.
fn parse_hint(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() && !v.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

/// Runs `simulate` under MPI (a singleton when not launched by `mpirun`/`srun`).
///
/// Exit status: 0 when done, 2 for arguments that make no run this machine can do (before
/// anything is simulated or written), 128 + the signal's number when SIGTERM or SIGINT
/// ended the run (the summary then says so), 1 for any other error.
pub(crate) fn main(args: &Args) -> ExitCode {
    interrupt::install();
    let Some(universe) = mpi::initialize() else {
        eprintln!("error: MPI was already initialized");
        return ExitCode::FAILURE;
    };
    let world = universe.world();
    let rank = world.rank();
    if let Some(problem) = shape_problem(args, &world) {
        if rank == 0 {
            eprintln!("error: {problem}");
        }
        return ExitCode::from(2);
    }
    match run(args, &world) {
        Ok((summary, signal)) => {
            if rank == 0 {
                println!("{summary}");
            }
            match signal {
                0 => ExitCode::SUCCESS,
                s => ExitCode::from(u8::try_from(128 + s).unwrap_or(u8::MAX)),
            }
        }
        Err(e) => {
            if rank == 0 {
                eprintln!("error: {e}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Why the arguments make no run this machine can do, the same on every rank (memory is
/// the least any rank has).
fn shape_problem(args: &Args, world: &SimpleCommunicator) -> Option<String> {
    let shape = Shape {
        cells: args.cells,
        voltage_cells: args.voltage_cells,
        duration_ms: args.duration_ms,
        resolution_ms: args.resolution_ms,
        rate_hz: args.rate_hz,
        checkpoints: args.checkpoints,
        stream: args.stream,
    };
    let mine = bsb_results::provenance::available_memory().unwrap_or(u64::MAX);
    let mut least = mine;
    world.all_reduce_into(&mine, &mut least, SystemOperation::min());
    let ranks = u64::try_from(world.size()).unwrap_or(1);
    shape.problem(ranks, (least != u64::MAX).then_some(least))
}

/// Whether any rank received SIGTERM or SIGINT: the highest such signal, 0 for none.
fn interrupted(world: &SimpleCommunicator) -> i32 {
    let mine = interrupt::received();
    let mut any = mine;
    world.all_reduce_into(&mine, &mut any, SystemOperation::max());
    any
}

/// The cells of `rank` out of `size`: a contiguous block of `0..cells`.
fn local_cells(cells: u64, rank: u64, size: u64) -> Range<u64> {
    (cells * rank / size)..(cells * (rank + 1) / size)
}

/// Runs the job; returns the summary and the signal that ended it early (0 for none).
fn run(args: &Args, world: &SimpleCommunicator) -> bsb_results::Result<(serde_json::Value, i32)> {
    let start = Instant::now();
    let (rank, size) = (world.rank(), world.size());
    let config = json!({
        "name": args.name, "cells": args.cells, "duration_ms": args.duration_ms,
        "resolution_ms": args.resolution_ms, "checkpoints": args.checkpoints,
        "voltage_cells": args.voltage_cells, "rate_hz": args.rate_hz, "seed": args.seed,
    });
    let info = RunInfo {
        seed: Some(args.seed),
        duration_ms: Some(args.duration_ms),
        resolution_ms: Some(args.resolution_ms),
        ..RunInfo::default()
    };
    let mut result = SimulationResult::new(world, &args.name, config, info)?;
    result.set_simulator("bsb-results-synthetic", Some(env!("CARGO_PKG_VERSION")), serde_json::Map::new());
    result.mark_started(None)?;
    let cells = local_cells(args.cells, u64::try_from(rank).unwrap_or(0), u64::try_from(size).unwrap_or(1));
    register(&mut result, args, cells, rank)?;
    let checkpoints = args.checkpoints;
    let checkpoint_ends = (1..=checkpoints).map(|c| args.duration_ms * f64::from(c) / f64::from(checkpoints));
    let state = |t: f64| json!({ "step": (t / args.resolution_ms).round() });
    if args.stream {
        let mut stream = result.stream_with(&args.out, args.mode, options(args).build())?;
        let mut totals: Option<WriteSummary> = None;
        for (done, t) in checkpoint_ends.enumerate() {
            compute(args);
            let signal = interrupted(world);
            if signal != 0 {
                return Ok((interrupted_json(args, size, signal, done, totals.as_ref(), start), signal));
            }
            let streamed = stream.flush_until(t, &state(t))?;
            if rank == 0 && !args.quiet {
                eprintln!("checkpoint {} written ({} objects, {:.3} s)", streamed.flush.checkpoint_index, streamed.write.objects, streamed.write.seconds);
            }
            match &mut totals {
                Some(sum) => sum.add(&streamed.write),
                None => totals = Some(streamed.write),
            }
        }
        let (_, totals) = stream.close()?;
        return Ok((summary_json(&totals, args, size, 0.0, start.elapsed().as_secs_f64()), 0));
    }
    for (done, t) in checkpoint_ends.enumerate() {
        compute(args);
        let signal = interrupted(world);
        if signal != 0 {
            return Ok((interrupted_json(args, size, signal, done, None, start), signal));
        }
        result.flush_until(t, &state(t))?;
    }
    result.mark_finished(None, None)?;
    let simulate_seconds = start.elapsed().as_secs_f64();
    let reporter = Reporter::new("laying out", rank == 0 && !args.quiet);
    let options = options(args).progress(move |done, total| reporter.update(done, total)).build();
    let summary = result.write_with(&args.out, args.mode, &options)?;
    Ok((summary_json(&summary, args, size, simulate_seconds, start.elapsed().as_secs_f64()), 0))
}

/// The write options the arguments ask for (a stream's and a write's alike).
fn options(args: &Args) -> WriteOptionsBuilder {
    let builder = WriteOptions::builder().share_properties(!args.no_sharing).mpio_hints(args.mpio_hints.iter().cloned()).io(args.io).align(args.align);
    #[cfg(feature = "test-hooks")]
    let builder = match args.fault {
        Some(fault) => builder.fault(fault),
        None => builder,
    };
    builder
}

/// Spends `--compute-ms` of wall-clock time, as a simulator computing a checkpoint would
/// (less when a signal arrives).
fn compute(args: &Args) {
    interrupt::sleep(std::time::Duration::from_millis(args.compute_ms));
}

/// The summary of a run that a signal ended after `done` checkpoints: what the file holds
/// (a stream's committed checkpoints; nothing written without `--stream`).
fn interrupted_json(args: &Args, ranks: i32, signal: i32, done: usize, written: Option<&WriteSummary>, start: Instant) -> serde_json::Value {
    let held = if args.stream && done > 0 { format!("holds checkpoints 0..{}", done - 1) } else { "was not changed".to_owned() };
    eprintln!("interrupted by {} after {done} of {} checkpoints: '{}' {held}", interrupt::name(signal), args.checkpoints, args.out.display());
    json!({
        "path": args.out, "ranks": ranks, "cells": args.cells, "checkpoints": args.checkpoints,
        "interrupted": interrupt::name(signal), "checkpoints_written": if args.stream { done } else { 0 },
        "file_bytes": written.map(|w| w.file_bytes), "seconds": start.elapsed().as_secs_f64(),
    })
}

fn summary_json(s: &WriteSummary, args: &Args, ranks: i32, simulate_seconds: f64, seconds: f64) -> serde_json::Value {
    json!({
        "path": s.path, "ranks": ranks, "cells": args.cells, "checkpoints": args.checkpoints,
        "objects": s.objects, "segments": s.segments, "data_bytes": s.data_bytes, "file_bytes": s.file_bytes,
        "metadata_seconds": s.metadata_seconds, "data_seconds": s.data_seconds,
        "data_seconds_by_rank": s.data_seconds_by_rank, "data_write_seconds_by_rank": s.data_write_seconds_by_rank,
        "data_bytes_by_rank": s.data_bytes_by_rank,
        "peak_memory_by_rank": s.peak_memory_by_rank, "write_seconds": s.seconds,
        "simulate_seconds": simulate_seconds, "seconds": seconds, "mpio": s.mpio, "interrupted": null,
    })
}

/// The placement set and model of a cell: every fourth cell is a Golgi cell.
fn cell_target(id: u64) -> CellTarget {
    let id_i = i64::try_from(id).unwrap_or(i64::MAX);
    if id % 4 == 3 { CellTarget::new("golgi_cell", id_i, "golgi_iaf") } else { CellTarget::new("granule_cell", id_i, "granule_iaf") }
}

fn register(result: &mut SimulationResult, args: &Args, cells: Range<u64>, rank: i32) -> bsb_results::Result<()> {
    let (seed, rate, res, multiplex) = (args.seed, args.rate_hz, args.resolution_ms, args.multiplex);
    let spike_cells = cells.clone();
    result.create_recorder(Device::new("spikes", "spike_recorder"), Meta::new(), move |ctx| {
        let trains: Vec<(CellTarget, Vec<f64>)> = spike_cells
            .clone()
            .map(|id| (cell_target(id), poisson(Rng::new(&[seed, id, ctx.checkpoint_index() as u64]), rate, res, ctx.t_start_ms(), ctx.t_stop_ms())))
            .collect();
        if multiplex { push_multiplexed_trains(ctx, trains) } else { push_trains(ctx, trains) }
    })?;
    let watched = cells.start.min(args.voltage_cells)..cells.end.min(args.voltage_cells);
    let meta = Meta::from([("sampling_period_ms".to_owned(), json!(res))]);
    let voltmeter = Trace { name: "V_m", stream: 1, compartment: false, seed, res, multiplex };
    result.create_recorder(Device::new("vm", "voltmeter"), meta, voltmeter.recorder(watched.clone()))?;
    let dendrites = Trace { name: "V_dend", stream: 2, compartment: true, seed, res, multiplex };
    result.create_recorder(Device::new("dendrites", "compartment_recorder"), Meta::new(), dendrites.recorder(watched))?;
    let targets = i64::try_from(cells.end - cells.start).unwrap_or(i64::MAX);
    let stimulus = Device::new("background", "poisson_generator").stimulating();
    result.create_recorder(stimulus, Meta::new(), move |ctx| {
        let stream = [seed, u64::MAX - u64::try_from(rank).unwrap_or(0), ctx.checkpoint_index() as u64];
        let times = poisson(Rng::new(&stream), 50.0, res, ctx.t_start_ms(), ctx.t_stop_ms());
        let train = ctx.stimulus_train(times, targets, ctx.t_stop_ms()).t_start(ctx.t_start_ms()).name(format!("background_rank{rank}"));
        ctx.push_spiketrain(train.build()?);
        Ok(())
    })?;
    Ok(())
}

/// One spike train per cell.
fn push_trains(ctx: &mut FlushContext<'_>, trains: Vec<(CellTarget, Vec<f64>)>) -> Result<(), RecorderError> {
    for (cell, times) in trains {
        let name = format!("{}_{}", cell.ps_name, cell.cell_id);
        ctx.push_spiketrain(ctx.spike_train(&cell, times, ctx.t_stop_ms()).t_start(ctx.t_start_ms()).name(name).build()?);
    }
    Ok(())
}

/// One spike train for all cells: spikes in time order, each with its cell's roster index.
fn push_multiplexed_trains(ctx: &mut FlushContext<'_>, trains: Vec<(CellTarget, Vec<f64>)>) -> Result<(), RecorderError> {
    if trains.is_empty() {
        return Ok(());
    }
    let targets: Vec<Annotations> = trains.iter().map(|(cell, _)| multiplex::cell_target(cell, Direction::Record)).collect();
    let mut spikes: Vec<(f64, i64)> = Vec::new();
    for (index, (_, times)) in (0i64..).zip(&trains) {
        spikes.extend(times.iter().map(|t| (*t, index)));
    }
    spikes.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (times, index): (Vec<f64>, Vec<i64>) = spikes.into_iter().unzip();
    let train = ctx.multiplexed_spikes(&targets, times, index, ctx.t_stop_ms())?.t_start(ctx.t_start_ms()).name("spikes");
    ctx.push_spiketrain(train.build()?);
    Ok(())
}

/// A recorder of membrane-like traces of a range of cells.
#[derive(Clone, Copy)]
struct Trace {
    /// The recorded quantity (`V_m`).
    name: &'static str,
    /// Which generator stream of a cell it draws from.
    stream: u64,
    /// Compartment recordings carry `bsb_section` and `bsb_arc`.
    compartment: bool,
    seed: u64,
    res: f64,
    multiplex: bool,
}

impl Trace {
    fn recorder(self, cells: Range<u64>) -> impl FnMut(&mut FlushContext<'_>) -> Result<(), RecorderError> + Send + 'static {
        move |ctx| {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let n = ((ctx.t_stop_ms() - ctx.t_start_ms()) / self.res).round() as usize;
            let traces: Vec<(CellTarget, Annotations, Vec<f64>)> = cells
                .clone()
                .map(|id| {
                    let (cell, fields) = self.target(id);
                    (cell, fields, trace(Rng::new(&[self.seed, id, ctx.checkpoint_index() as u64, self.stream]), n))
                })
                .collect();
            if self.multiplex { self.push_multiplexed(ctx, traces) } else { self.push_each(ctx, traces) }
        }
    }

    /// The cell and its kind-specific `bsb_*` fields.
    fn target(self, id: u64) -> (CellTarget, Annotations) {
        if !self.compartment {
            return (cell_target(id), Annotations::new());
        }
        #[allow(clippy::cast_precision_loss)]
        let arc = (id % 10) as f64 / 10.0 + 0.05;
        (cell_target(id).kind("compartment"), Annotations::from_iter([("bsb_section", Value::from("dend")), ("bsb_arc", Value::Float(arc))]))
    }

    fn push_each(self, ctx: &mut FlushContext<'_>, traces: Vec<(CellTarget, Annotations, Vec<f64>)>) -> Result<(), RecorderError> {
        for (cell, fields, samples) in traces {
            let signal = ctx.analog_signal(&cell, self.name, "mV", self.res, samples).t_start(ctx.t_start_ms()).annotate_all(&fields);
            ctx.push_analogsignal(signal.build()?);
        }
        Ok(())
    }

    /// One signal with a channel per cell and the roster as per-channel array annotations.
    fn push_multiplexed(self, ctx: &mut FlushContext<'_>, traces: Vec<(CellTarget, Annotations, Vec<f64>)>) -> Result<(), RecorderError> {
        if traces.is_empty() {
            return Ok(());
        }
        let mut targets = Vec::with_capacity(traces.len());
        let mut channels = Vec::with_capacity(traces.len());
        for (cell, fields, samples) in traces {
            let mut target = multiplex::cell_target(&cell, Direction::Record);
            for (k, v) in fields.iter() {
                target.insert(k, v.clone());
            }
            targets.push(target);
            channels.push(samples);
        }
        let signal = AnalogSignal::from_channels(channels, "mV", self.res).name(self.name).t_start(ctx.t_start_ms());
        let signal = ctx.multiplexed_signal(&targets, signal)?;
        ctx.push_analogsignal(signal.build()?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_dealt_in_blocks_covering_all() {
        let all: Vec<u64> = (0..3).flat_map(|r| local_cells(10, r, 3)).collect();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert!(local_cells(2, 0, 4).is_empty(), "with fewer cells than ranks, some ranks get none");
        assert_eq!(local_cells(2, 3, 4), 1..2);
    }
}
