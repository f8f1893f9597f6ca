//! Stream checkpoints into the file as they are flushed: a run killed after checkpoint k
//! leaves checkpoints 0..k. Reads the file back and checks all three checkpoints.
//!
//!     cargo run --release --example streaming
//!     mpirun -n 2 target/release/examples/streaming

use bsb_results::{CellTarget, Device, FileMode, Meta, RunInfo, SimulationResult, read_nio};

fn main() -> bsb_results::Result<()> {
    let universe = mpi::initialize().expect("MPI initializes once");
    let world = universe.world();
    let info = RunInfo { duration_ms: Some(300.0), ..RunInfo::default() };
    let mut result = SimulationResult::new(&world, "streaming", serde_json::json!({}), info)?;
    let cell = i64::from(result.rank());
    result.create_recorder(Device::new("spikes", "spike_recorder"), Meta::new(), move |ctx| {
        let spike = ctx.t_start_ms() + 10.0;
        let target = CellTarget::new("purkinje_cell", cell, "pc");
        ctx.push_spiketrain(ctx.spike_train(&target, vec![spike], ctx.t_stop_ms()).t_start(ctx.t_start_ms()).build()?);
        Ok(())
    })?;
    result.mark_started(None)?;

    let path = std::env::temp_dir().join("bsb-results-streaming.nio");
    let mut stream = result.stream(&path, FileMode::Overwrite)?;
    for t in [100.0, 200.0, 300.0] {
        let written = stream.flush_until(t, &serde_json::json!({ "t": t }))?;
        assert!(written.flush.segment_id.len() == 36, "every checkpoint has its id");
    }
    let (result, totals) = stream.close()?; // writes the final provenance

    let block = read_nio(&path)?;
    assert_eq!(block.segments.len(), 3);
    assert!(block.provenance().expect("provenance")["finished_at"].is_string());
    if result.rank() == 0 {
        println!("streamed {} checkpoints ({} objects) into {}", totals.segments, totals.objects, path.display());
    }
    drop(result);
    Ok(())
}
