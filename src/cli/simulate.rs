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

use bsb_results::{CellTarget, Device, FileMode, FlushContext, RecorderError, RunInfo, SimulationResult, WriteOptions, WriteSummary};
use mpi::topology::Communicator;
use serde_json::json;

use super::progress::Reporter;

/// Run a synthetic network on every rank and write one .nio file.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Args {
    /// Cells in the network (ids 0..N-1), dealt to the ranks in contiguous blocks.
    #[arg(long, default_value_t = 1000)]
    cells: u64,
    /// Simulated time in ms.
    #[arg(long, default_value_t = 1000.0)]
    duration_ms: f64,
    /// Time step in ms: spike times lie on this grid and signals are sampled at it.
    #[arg(long, default_value_t = 0.1)]
    resolution_ms: f64,
    /// Number of checkpoints (flushes); each becomes one segment.
    #[arg(long, default_value_t = 1)]
    checkpoints: u32,
    /// How many cells (the first K) the voltmeter and the compartment recorder watch.
    #[arg(long, default_value_t = 10)]
    voltage_cells: u64,
    /// Mean firing rate of each cell in Hz.
    #[arg(long, default_value_t = 20.0)]
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
}

/// Runs `simulate` under MPI (a singleton when not launched by `mpirun`/`srun`).
pub(crate) fn main(args: &Args) -> ExitCode {
    let Some(universe) = mpi::initialize() else {
        eprintln!("error: MPI was already initialized");
        return ExitCode::FAILURE;
    };
    let world = universe.world();
    let rank = world.rank();
    match run(args, &world) {
        Ok(summary) => {
            if rank == 0 {
                println!("{summary}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            if rank == 0 {
                eprintln!("error: {e}");
            }
            ExitCode::FAILURE
        }
    }
}

/// The cells of `rank` out of `size`: a contiguous block of `0..cells`.
fn local_cells(cells: u64, rank: u64, size: u64) -> std::ops::Range<u64> {
    (cells * rank / size)..(cells * (rank + 1) / size)
}

fn run(args: &Args, world: &mpi::topology::SimpleCommunicator) -> bsb_results::Result<serde_json::Value> {
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
    let checkpoints = args.checkpoints.max(1);
    for c in 1..=checkpoints {
        let t_stop = args.duration_ms * f64::from(c) / f64::from(checkpoints);
        result.flush_until(t_stop, &json!({ "step": (t_stop / args.resolution_ms).round() }))?;
    }
    result.mark_finished(None, None)?;
    let simulate_seconds = start.elapsed().as_secs_f64();
    let reporter = Reporter::new("laying out", rank == 0 && !args.quiet);
    let progress = |done, total| reporter.update(done, total);
    let options = WriteOptions { progress: Some(&progress), share_properties: !args.no_sharing };
    let summary = result.write_with(&args.out, args.mode, &options)?;
    Ok(summary_json(&summary, args, size, simulate_seconds, start.elapsed().as_secs_f64()))
}

fn summary_json(s: &WriteSummary, args: &Args, ranks: i32, simulate_seconds: f64, seconds: f64) -> serde_json::Value {
    json!({
        "path": s.path, "ranks": ranks, "cells": args.cells, "checkpoints": args.checkpoints,
        "objects": s.objects, "segments": s.segments, "data_bytes": s.data_bytes, "file_bytes": s.file_bytes,
        "metadata_seconds": s.metadata_seconds, "data_seconds": s.data_seconds,
        "data_seconds_by_rank": s.data_seconds_by_rank, "write_seconds": s.seconds,
        "simulate_seconds": simulate_seconds, "seconds": seconds,
    })
}

/// The placement set and model of a cell: every fourth cell is a Golgi cell.
fn cell_target(id: u64) -> CellTarget {
    let id_i = i64::try_from(id).unwrap_or(i64::MAX);
    if id % 4 == 3 { CellTarget::new("golgi_cell", id_i, "golgi_iaf") } else { CellTarget::new("granule_cell", id_i, "granule_iaf") }
}

fn register(result: &mut SimulationResult, args: &Args, cells: std::ops::Range<u64>, rank: i32) -> bsb_results::Result<()> {
    let (seed, rate, res) = (args.seed, args.rate_hz, args.resolution_ms);
    let spike_cells = cells.clone();
    result.create_recorder(Device::new("spikes", "spike_recorder"), Default::default(), move |ctx| {
        for id in spike_cells.clone() {
            let cell = cell_target(id);
            let times = poisson(Rng::new(&[seed, id, ctx.checkpoint_index() as u64]), rate, res, ctx.t_start_ms(), ctx.t_stop_ms());
            let name = format!("{}_{id}", cell.ps_name);
            ctx.push_spiketrain(ctx.spike_train(&cell, times, ctx.t_stop_ms()).t_start(ctx.t_start_ms()).name(name).build()?);
        }
        Ok(())
    })?;
    let watched = cells.start.min(args.voltage_cells)..cells.end.min(args.voltage_cells);
    let vm_cells = watched.clone();
    let meta = bsb_results::Meta::from([("sampling_period_ms".to_owned(), json!(res))]);
    result.create_recorder(Device::new("vm", "voltmeter"), meta, move |ctx| {
        for id in vm_cells.clone() {
            push_voltage(ctx, &cell_target(id), "V_m", Rng::new(&[seed, id, ctx.checkpoint_index() as u64, 1]), res, |b| b)?;
        }
        Ok(())
    })?;
    result.create_recorder(Device::new("dendrites", "compartment_recorder"), Default::default(), move |ctx| {
        for id in watched.clone() {
            let cell = cell_target(id).kind("compartment");
            #[allow(clippy::cast_precision_loss)]
            let arc = (id % 10) as f64 / 10.0 + 0.05;
            let rng = Rng::new(&[seed, id, ctx.checkpoint_index() as u64, 2]);
            push_voltage(ctx, &cell, "V_dend", rng, res, |b| b.field("section", "dend").field("arc", arc))?;
        }
        Ok(())
    })?;
    let targets = i64::try_from(cells.end - cells.start).unwrap_or(i64::MAX);
    let stimulus = Device::new("background", "poisson_generator").stimulating();
    result.create_recorder(stimulus, Default::default(), move |ctx| {
        let stream = [seed, u64::MAX - u64::try_from(rank).unwrap_or(0), ctx.checkpoint_index() as u64];
        let times = poisson(Rng::new(&stream), 50.0, res, ctx.t_start_ms(), ctx.t_stop_ms());
        let train = ctx.stimulus_train(times, targets, ctx.t_stop_ms()).t_start(ctx.t_start_ms()).name(format!("background_rank{rank}"));
        ctx.push_spiketrain(train.build()?);
        Ok(())
    })?;
    Ok(())
}

/// Appends a membrane-potential-like signal for one checkpoint.
fn push_voltage(
    ctx: &mut FlushContext<'_>,
    cell: &CellTarget,
    name: &str,
    mut rng: Rng,
    res: f64,
    extra: impl FnOnce(bsb_results::model::AnalogSignalBuilder) -> bsb_results::model::AnalogSignalBuilder,
) -> Result<(), RecorderError> {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let n = ((ctx.t_stop_ms() - ctx.t_start_ms()) / res).round() as usize;
    let mut v = -65.0;
    let samples = (0..n)
        .map(|_| {
            v += 0.1 * (-65.0 - v) + 0.5 * (rng.uniform() - 0.5);
            v
        })
        .collect();
    let signal = ctx.analog_signal(cell, name, "mV", res, samples).t_start(ctx.t_start_ms());
    ctx.push_analogsignal(extra(signal).build()?);
    Ok(())
}

/// Spike times of a Poisson process of `rate_hz` on the `res` grid in `(t_start, t_stop]`.
fn poisson(mut rng: Rng, rate_hz: f64, res: f64, t_start: f64, t_stop: f64) -> Vec<f64> {
    let mut times = Vec::new();
    if rate_hz <= 0.0 {
        return times;
    }
    let mut t = t_start;
    loop {
        t += -(1.0 - rng.uniform()).ln() * 1000.0 / rate_hz;
        let on_grid = (t / res).ceil() * res;
        if on_grid > t_stop {
            return times;
        }
        if times.last().is_none_or(|last| on_grid > *last) {
            times.push(on_grid);
        }
    }
}

/// SplitMix64: a small generator whose stream depends only on its seed words, so a
/// cell's activity is the same whichever rank simulates it.
struct Rng(u64);

impl Rng {
    fn new(words: &[u64]) -> Rng {
        let mut r = Rng(0x9E37_79B9_7F4A_7C15);
        for w in words {
            r.0 ^= w.wrapping_mul(0xBF58_476D_1CE4_E5B9);
            r.next();
        }
        r
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn uniform(&mut self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let x = (self.next() >> 11) as f64;
        x / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_dealt_in_blocks_covering_all() {
        let all: Vec<u64> = (0..3).flat_map(|r| local_cells(10, r, 3)).collect();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert!(local_cells(2, 3, 4).is_empty() || local_cells(2, 3, 4).end <= 2);
    }

    #[test]
    fn poisson_is_deterministic_on_the_grid_and_in_range() {
        let a = poisson(Rng::new(&[1, 2, 3]), 20.0, 0.1, 0.0, 1000.0);
        let b = poisson(Rng::new(&[1, 2, 3]), 20.0, 0.1, 0.0, 1000.0);
        assert_eq!(a, b);
        assert!(a.len() > 5 && a.len() < 60, "{}", a.len());
        assert!(a.iter().all(|t| *t > 0.0 && *t <= 1000.0));
        assert!(a.iter().all(|t| ((t / 0.1).round() * 0.1 - t).abs() < 1e-9));
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert_ne!(a, poisson(Rng::new(&[1, 2, 4]), 20.0, 0.1, 0.0, 1000.0));
    }
}
