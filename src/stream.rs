//! Streaming checkpoints: every flush goes into the file as it happens.
//!
//! The first write creates the run's Block (for `ow`, in a new file that is renamed into
//! place when that write commits); each later flush appends its segment through the
//! file's rollback journal; [`StreamingResult::close`] writes the final provenance. Each
//! write frees the checkpoint's buffers, so memory stays bounded by one checkpoint, and a
//! run killed after checkpoint k leaves a file with checkpoints 0..k (and
//! `finished_at: null` in its provenance).

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::model::Value;
use crate::result::{FlushReport, SimulationResult};
use crate::target;
use crate::nix::layout::BlockMeta;
use crate::options::WriteOptions;
use crate::writer::{FileMode, Job, WriteSummary};

/// A [`SimulationResult`] whose flushes are written into its file as they happen. It can
/// be flushed and closed; closing consumes it.
pub struct StreamingResult {
    result: SimulationResult,
    path: PathBuf,
    /// The mode of the first write; later writes append to the file it made.
    mode: FileMode,
    options: WriteOptions,
    /// Writes committed so far (the same on every rank).
    writes: usize,
    /// The Block's NIX name (rank 0, once written).
    block: Option<String>,
    totals: Option<WriteSummary>,
}

/// What a streamed flush did: the checkpoint and its write.
#[derive(Debug, Clone, PartialEq)]
pub struct Streamed {
    pub flush: FlushReport,
    pub write: WriteSummary,
}

impl SimulationResult {
    /// Streams every flush from now on into `path` (checkpoints already buffered go with
    /// the first write).
    ///
    /// # Collective
    /// # Errors
    /// As [`SimulationResult::write`], for a path that cannot be written.
    pub fn stream(self, path: impl AsRef<Path>, mode: FileMode) -> Result<StreamingResult> {
        self.stream_with(path, mode, WriteOptions::default())
    }

    /// [`stream`](SimulationResult::stream) with options (the same as for
    /// [`write_with`](SimulationResult::write_with); a progress callback is called in
    /// each write's layout).
    ///
    /// # Collective
    /// # Errors
    /// As [`SimulationResult::stream`].
    pub fn stream_with(mut self, path: impl AsRef<Path>, mode: FileMode, options: WriteOptions) -> Result<StreamingResult> {
        let path = path.as_ref().to_owned();
        self.agree_on_root(|| target::check(&path))?;
        Ok(StreamingResult { result: self, path, mode, options, writes: 0, block: None, totals: None })
    }
}

impl StreamingResult {
    /// The result: recorders, provenance, ids.
    pub fn result(&self) -> &SimulationResult {
        &self.result
    }

    /// The result, to register recorders or set the simulator.
    pub fn result_mut(&mut self) -> &mut SimulationResult {
        &mut self.result
    }

    /// Flushes a checkpoint that ends at the run's duration and writes it.
    ///
    /// # Collective
    /// # Errors
    /// As [`SimulationResult::flush`] and [`SimulationResult::write`]; a failed write
    /// leaves the file with the checkpoints written before.
    pub fn flush(&mut self) -> Result<Streamed> {
        let flush = self.result.flush()?;
        self.write_flushed(flush)
    }

    /// Flushes a checkpoint that reached `t_stop_ms` and writes it.
    ///
    /// # Collective
    /// # Errors
    /// As [`StreamingResult::flush`].
    pub fn flush_until(&mut self, t_stop_ms: f64, simulator_state: &serde_json::Value) -> Result<Streamed> {
        let flush = self.result.flush_until(t_stop_ms, simulator_state)?;
        self.write_flushed(flush)
    }

    fn write_flushed(&mut self, flush: FlushReport) -> Result<Streamed> {
        let write = self.write(None)?;
        Ok(Streamed { flush, write })
    }

    /// Marks the run finished (unless it was) and writes the final provenance; returns
    /// the result and the totals of every write.
    ///
    /// # Collective
    /// # Errors
    /// As [`SimulationResult::write`].
    pub fn close(mut self) -> Result<(SimulationResult, WriteSummary)> {
        if self.result.provenance().finished_at.is_none() {
            self.result.mark_finished(None, None)?;
        }
        let provenance = Value::Str(self.result.provenance().to_json_string());
        let last = self.write(Some(&provenance))?;
        let totals = self.totals.take().unwrap_or(last);
        Ok((self.result, totals))
    }

    /// One collective write: the buffered segments, as the run's new Block the first time,
    /// appended after; or, with `provenance`, the final provenance of a written Block.
    fn write(&mut self, provenance: Option<&Value>) -> Result<WriteSummary> {
        let segments = self.result.take_segments();
        let options = self.options.for_write(self.writes);
        let annotations = self.result.block_annotations();
        let created_at = self.result.run_created_at();
        let name = self.result.name().to_owned();
        let run = BlockMeta { name: &name, annotations: &annotations, created_at: &created_at };
        let block = self.block.clone().unwrap_or_default();
        let (job, mode) = match (self.writes, provenance) {
            (0, _) => (Job::NewBlock(&run), self.mode),
            (_, Some(value)) => (Job::Annotate { block: &block, key: "bsb_provenance", value }, FileMode::Append),
            (_, None) => (Job::Append(&block), FileMode::Append),
        };
        let written = self.result.transact(&self.path, mode, job, &segments, &options)?;
        self.writes += 1;
        if written.block.is_some() {
            self.block = written.block;
        }
        match &mut self.totals {
            Some(t) => t.add(&written.summary),
            None => self.totals = Some(written.summary.clone()),
        }
        Ok(written.summary)
    }
}
