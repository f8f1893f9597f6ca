//! Record spikes and a signal on every rank, write one file, read it back and check it.
//!
//!     cargo run --release --example quickstart
//!     mpirun -n 2 target/release/examples/quickstart

use bsb_results::{CellTarget, Device, FileMode, Meta, RunInfo, SimulationResult, iter_recordings, read_nio};

fn main() -> bsb_results::Result<()> {
    let universe = mpi::initialize().expect("MPI initializes once");
    let world = universe.world();
    let info = RunInfo { duration_ms: Some(100.0), resolution_ms: Some(0.1), ..RunInfo::default() };
    let mut result = SimulationResult::new(&world, "quickstart", serde_json::json!({"cells": 2}), info)?;
    let rank = i64::from(result.rank());

    // Each rank records its own cells: one spike train per cell, and the voltage of one.
    result.create_recorder(Device::new("spikes", "spike_recorder"), Meta::new(), move |ctx| {
        for cell in [2 * rank, 2 * rank + 1] {
            let target = CellTarget::new("granule_cell", cell, "iaf_cond_alpha");
            ctx.push_spiketrain(ctx.spike_train(&target, vec![1.5, 20.0 + cell as f64], ctx.t_stop_ms()).build()?);
        }
        Ok(())
    })?;
    result.create_recorder(Device::new("vm", "voltmeter"), Meta::new(), move |ctx| {
        let target = CellTarget::new("granule_cell", 2 * rank, "iaf_cond_alpha");
        ctx.push_analogsignal(ctx.analog_signal(&target, "V_m", "mV", 0.1, vec![-65.0; 1000]).build()?);
        Ok(())
    })?;

    result.mark_started(None)?;
    result.flush()?; // a checkpoint: one Neo Segment
    result.mark_finished(None, None)?;
    let path = std::env::temp_dir().join("bsb-results-quickstart.nio");
    let summary = result.write(&path, FileMode::Overwrite)?;

    // Every rank may read the file: one recording per cell and device.
    let block = read_nio(&path)?;
    let ranks = usize::try_from(result.size()).expect("positive");
    assert_eq!(iter_recordings(&block).count(), 3 * ranks);
    assert_eq!(block.provenance().expect("provenance")["mpi_size"], result.size());
    if result.rank() == 0 {
        println!("wrote {} objects to {} and read them back", summary.objects, path.display());
    }
    drop(result); // before `universe`: MPI finalizes when the universe drops
    Ok(())
}
