//! `SimulationResult`: one run's recorders, buffered checkpoints and provenance on one rank.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::Instant;

use mpi::topology::Communicator;

use crate::contract::{self, Device, RunIds};
use crate::error::{Error, Result};
use crate::model::{AnalogSignal, Annotations, Segment, SpikeTrain, Value, check_no_nul};
use crate::parallel::comm::{Comm, Step};
use crate::provenance::{Host, Plugin, Provenance, RankHost, RunInfo, iso_now};
use crate::recorder::{FlushContext, FnRecorder, Meta, Recorder, RecorderError};
use crate::nix::layout::BlockMeta;
use crate::nix::names::nix_time;
use crate::options::WriteOptions;
use crate::writer::{self, FileMode, Job, WriteSummary};

/// One simulation run as seen from one rank.
///
/// Every rank creates it with the same name and config and then calls the collective
/// methods ([`SimulationResult::new`], [`flush`](SimulationResult::flush),
/// [`write`](SimulationResult::write), the marks) equally often and in the same order.
pub struct SimulationResult {
    comm: Comm,
    name: String,
    config: serde_json::Value,
    provenance: Provenance,
    recorders: Vec<Box<dyn Recorder>>,
    segments: Vec<Segment>,
    /// Checkpoints flushed so far (streamed ones are no longer in `segments`).
    checkpoints: usize,
    segment_id: Option<String>,
    t_cursor: f64,
    started: Option<Instant>,
    created_at: String,
    /// How a failed recorder is reported.
    on_failure: Box<dyn FnMut(&RecorderFailure)>,
}

/// What one flush collected on this rank.
#[derive(Debug, Clone, PartialEq)]
pub struct FlushReport {
    /// The checkpoint's index.
    pub checkpoint_index: usize,
    /// The segment's id, shared by every rank.
    pub segment_id: String,
    /// Spike trains this rank's recorders appended.
    pub spiketrains: usize,
    /// Analog signals this rank's recorders appended.
    pub analogsignals: usize,
    /// The recorders that failed, each already warned about.
    pub failures: Vec<RecorderFailure>,
}

/// A recorder that returned an error or panicked during a flush.
///
/// It displays as BSB warns: `Recorder errored out! rank R, device 'D': ERROR`.
#[derive(Debug, Clone, PartialEq)]
pub struct RecorderFailure {
    /// The rank it ran on.
    pub rank: i32,
    /// Its device's name.
    pub device: String,
    /// The error, or the panic's message.
    pub error: String,
}

impl std::fmt::Display for RecorderFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Recorder errored out! rank {}, device '{}': {}", self.rank, self.device, self.error)
    }
}

impl SimulationResult {
    /// A result for the run `name` on every rank of `comm`.
    ///
    /// `simulation_id` is drawn on rank 0 and every rank's host is gathered into the
    /// provenance, so all ranks hold the same provenance.
    ///
    /// # Collective
    /// Every rank of `comm` calls it with the same arguments.
    ///
    /// # Errors
    /// [`Error::Validation`] for an empty name or one holding a NUL byte (on any rank).
    pub fn new(comm: &impl Communicator, name: &str, config: serde_json::Value, info: RunInfo) -> Result<Self> {
        let mut comm = Comm::new(comm);
        let valid = if name.trim().is_empty() {
            Err(Error::invalid("run name", "the run needs a name"))
        } else {
            check_no_nul(name).map_err(|p| Error::invalid("run name", p))
        };
        comm.agree(Step::Create, valid)?;
        let host = serde_json::to_vec(&Host::collect(processor_name())).expect("plain data");
        let hosts = comm.gather_bytes(&host);
        let provenance = hosts.map(|hosts| {
            let ranks = hosts
                .iter()
                .enumerate()
                .map(|(r, bytes)| RankHost {
                    mpi_rank: i32::try_from(r).expect("rank fits i32"),
                    host: serde_json::from_slice(bytes).unwrap_or_else(|_| Host::collect("?".into())),
                })
                .collect();
            let id = uuid::Uuid::new_v4().to_string();
            serde_json::to_vec(&Provenance::new(id, name.to_owned(), &info, ranks)).expect("plain data")
        });
        let bytes = comm.broadcast_bytes(0, provenance.unwrap_or_default());
        let provenance: Provenance =
            serde_json::from_slice(&bytes).map_err(|e| Error::Collective(format!("provenance from rank 0 unreadable: {e}")))?;
        let created_at = comm.broadcast_bytes(0, nix_time(chrono::Utc::now()).into_bytes());
        Ok(SimulationResult {
            comm,
            name: name.to_owned(),
            config,
            provenance,
            recorders: Vec::new(),
            segments: Vec::new(),
            checkpoints: 0,
            segment_id: None,
            t_cursor: 0.0,
            started: None,
            created_at: String::from_utf8_lossy(&created_at).into_owned(),
            on_failure: Box::new(|failure| eprintln!("warning: {failure}")),
        })
    }

    /// The run's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The simulation's configuration tree.
    pub fn config(&self) -> &serde_json::Value {
        &self.config
    }
    /// The run's id, the same on every rank.
    pub fn simulation_id(&self) -> &str {
        &self.provenance.simulation_id
    }
    /// The provenance, as it will be written.
    pub fn provenance(&self) -> &Provenance {
        &self.provenance
    }
    /// This rank.
    pub fn rank(&self) -> i32 {
        self.comm.rank()
    }
    /// The number of ranks.
    pub fn size(&self) -> i32 {
        self.comm.size()
    }
    /// This rank's buffered segments, one per flush.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }
    /// The spike trains of the first segment on this rank.
    pub fn spiketrains(&self) -> &[SpikeTrain] {
        self.segments.first().map_or(&[], |s| &s.spiketrains)
    }
    /// The analog signals of the first segment on this rank.
    pub fn analogsignals(&self) -> &[AnalogSignal] {
        self.segments.first().map_or(&[], |s| &s.analogsignals)
    }
    /// The id of the segment being flushed: `Some` only while a flush runs (recorders read
    /// it from [`FlushContext::segment_id`]).
    pub fn segment_id(&self) -> Option<&str> {
        self.segment_id.as_deref()
    }

    /// Records the simulator; adapters call this before the run. Call it alike on every
    /// rank: rank 0's is written.
    pub fn set_simulator(&mut self, name: &str, version: Option<&str>, extra: serde_json::Map<String, serde_json::Value>) {
        self.provenance.simulator = crate::provenance::Simulator { name: Some(name.into()), version: version.map(Into::into), extra };
    }

    /// Adds a plugin to the provenance's `plugins` under `category`/`entry`.
    pub fn register_plugin(&mut self, category: &str, entry: &str, package: &str, version: Option<&str>) {
        let plugin = Plugin { package: package.into(), version: version.map(Into::into) };
        self.provenance.plugins.entry(category.into()).or_default().insert(entry.into(), plugin);
    }

    /// Sets `started_at` (now on rank 0, unless given) on every rank.
    ///
    /// # Collective
    pub fn mark_started(&mut self, started_at: Option<&str>) -> Result<()> {
        self.comm.agree(Step::Mark, Ok(()))?;
        let at = started_at.map_or_else(iso_now, str::to_owned);
        let at = self.comm.broadcast_bytes(0, at.into_bytes());
        self.provenance.started_at = Some(String::from_utf8_lossy(&at).into_owned());
        self.started = Some(Instant::now());
        Ok(())
    }

    /// Sets `finished_at` (now on rank 0, unless given) and `wall_seconds` (given, or the
    /// time since `mark_started` on rank 0) on every rank.
    ///
    /// # Collective
    pub fn mark_finished(&mut self, finished_at: Option<&str>, wall_seconds: Option<f64>) -> Result<()> {
        self.comm.agree(Step::Mark, Ok(()))?;
        let at = finished_at.map_or_else(iso_now, str::to_owned);
        let wall = wall_seconds.or_else(|| self.started.map(|s| s.elapsed().as_secs_f64()));
        let bytes = self.comm.broadcast_bytes(0, serde_json::to_vec(&(at, wall)).expect("plain data"));
        let (at, wall): (String, Option<f64>) =
            serde_json::from_slice(&bytes).map_err(|e| Error::Collective(format!("mark from rank 0 unreadable: {e}")))?;
        self.provenance.finished_at = Some(at);
        self.provenance.wall_seconds = wall;
        Ok(())
    }

    /// Replaces how a recorder that fails during a flush is reported on this rank (by
    /// default, a `warning: Recorder errored out! ...` line on stderr); a front end routes
    /// it to its own warnings. The failure is in the flush's [`FlushReport`] either way.
    pub fn on_recorder_failure(&mut self, report: impl FnMut(&RecorderFailure) + 'static) {
        self.on_failure = Box::new(report);
    }

    /// Registers a recorder of this rank.
    ///
    /// # Errors
    /// [`Error::Validation`] if its device has an empty name or kind.
    pub fn add(&mut self, recorder: Box<dyn Recorder>) -> Result<&dyn Recorder> {
        recorder.device().validate()?;
        self.recorders.push(recorder);
        Ok(&**self.recorders.last().expect("just pushed"))
    }

    /// Registers `flush` as the recorder of `device`, exposing `meta`.
    ///
    /// # Errors
    /// As [`SimulationResult::add`].
    pub fn create_recorder<F>(&mut self, device: Device, meta: Meta, flush: F) -> Result<&dyn Recorder>
    where
        F: FnMut(&mut FlushContext<'_>) -> Result<(), RecorderError> + Send + 'static,
    {
        self.add(Box::new(FnRecorder::new(device, meta, flush)))
    }

    /// This rank's recorders, in registration order.
    pub fn recorders(&self) -> impl Iterator<Item = &dyn Recorder> {
        self.recorders.iter().map(|r| &**r)
    }

    /// Flushes a checkpoint that ends at the run's duration (or where the last ended).
    ///
    /// # Collective
    /// # Errors
    /// As [`SimulationResult::flush_until`].
    pub fn flush(&mut self) -> Result<FlushReport> {
        let t_stop = self.provenance.duration_ms.unwrap_or(self.t_cursor).max(self.t_cursor);
        self.flush_until(t_stop, &serde_json::json!({}))
    }

    /// Flushes a checkpoint that reached simulation time `t_stop_ms`: opens a new segment
    /// (from the previous checkpoint's end to `t_stop_ms`), runs this rank's recorders into
    /// it, and stamps the baseline annotations on what they left unlabelled.
    ///
    /// A recorder that returns an error or panics is warned about (`Recorder errored out!`)
    /// and the flush goes on; what it appended before failing is kept.
    ///
    /// # Collective
    /// Every rank calls it with the same `t_stop_ms`; the segment id is drawn on rank 0.
    ///
    /// # Errors
    /// [`Error::Validation`] if `t_stop_ms` is not finite or lies before the previous
    /// checkpoint's end, on any rank; [`Error::Collective`] if the ranks are out of step.
    pub fn flush_until(&mut self, t_stop_ms: f64, simulator_state: &serde_json::Value) -> Result<FlushReport> {
        let t_start_ms = self.t_cursor;
        let valid = if !t_stop_ms.is_finite() || t_stop_ms < t_start_ms {
            Err(Error::invalid(
                format!("checkpoint {}", self.checkpoints),
                format!("t_stop_ms {t_stop_ms} must be finite and not before the previous checkpoint's end {t_start_ms}"),
            ))
        } else {
            Ok(())
        };
        self.comm.agree(Step::Flush, valid)?;
        let drawn = uuid::Uuid::new_v4().to_string().into_bytes();
        let segment_id = String::from_utf8_lossy(&self.comm.broadcast_bytes(0, drawn)).into_owned();
        let checkpoint_index = self.checkpoints;
        let mut segment = Segment { rec_datetime: Some(nix_time(chrono::Utc::now())), ..Segment::default() };
        segment.annotations = Annotations::from_iter([
            ("segment_id", Value::Str(segment_id.clone())),
            ("checkpoint_index", Value::Int(i64::try_from(checkpoint_index).unwrap_or(i64::MAX))),
            ("t_start_ms", Value::Float(t_start_ms)),
            ("t_stop_ms", Value::Float(t_stop_ms)),
            ("simulator_state", Value::json(simulator_state)),
        ]);
        self.segment_id = Some(segment_id.clone());
        let failures = self.run_recorders(&mut segment, &segment_id, checkpoint_index, t_start_ms, t_stop_ms);
        self.segment_id = None;
        let report = FlushReport {
            checkpoint_index,
            segment_id,
            spiketrains: segment.spiketrains.len(),
            analogsignals: segment.analogsignals.len(),
            failures,
        };
        self.segments.push(segment);
        self.checkpoints += 1;
        self.t_cursor = t_stop_ms;
        Ok(report)
    }

    fn run_recorders(&mut self, segment: &mut Segment, segment_id: &str, index: usize, t_start_ms: f64, t_stop_ms: f64) -> Vec<RecorderFailure> {
        let rank = self.comm.rank();
        let simulation_id = self.provenance.simulation_id.clone();
        let ids = RunIds { simulation_id: &simulation_id, segment_id };
        let mut failures = Vec::new();
        for i in 0..self.recorders.len() {
            let (before, rest) = self.recorders.split_at_mut(i);
            let (recorder, after) = rest.split_first_mut().expect("index in range");
            let device = recorder.device().clone();
            let counts = (segment.spiketrains.len(), segment.analogsignals.len());
            let outcome = {
                let mut ctx = FlushContext {
                    ids,
                    checkpoint_index: index,
                    t_start_ms,
                    t_stop_ms,
                    rank,
                    device: &device,
                    segment,
                    others: [before, after],
                };
                catch_unwind(AssertUnwindSafe(|| recorder.flush(&mut ctx)))
            };
            let error = match outcome {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(panic) => Some(panic_message(&*panic)),
            };
            if let Some(error) = error {
                let failure = RecorderFailure { rank, device: device.name().to_owned(), error };
                (self.on_failure)(&failure);
                failures.push(failure);
            }
            for t in &mut segment.spiketrains[counts.0..] {
                contract::stamp(&mut t.annotations, &device, ids);
            }
            for s in &mut segment.analogsignals[counts.1..] {
                contract::stamp(&mut s.annotations, &device, ids);
            }
        }
        failures
    }

    /// The Block's annotations: `config` and `bsb_provenance` as JSON strings, and
    /// `bsb_simulation_id`.
    pub fn block_annotations(&self) -> Annotations {
        Annotations::from_iter([
            ("config", Value::json(&self.config)),
            ("bsb_simulation_id", Value::Str(self.provenance.simulation_id.clone())),
            ("bsb_provenance", Value::Str(self.provenance.to_json_string())),
        ])
    }

    /// Writes every buffered segment of every rank into one NIX file at `path`.
    ///
    /// # Collective
    /// Every rank calls it with the same `path` and `mode`.
    ///
    /// # Errors
    /// Any rank's validation, I/O or HDF5 error, as the same [`Error::OnRank`] on every
    /// rank. With `ow` the file under `path` is untouched unless the write succeeds.
    pub fn write(&mut self, path: impl AsRef<Path>, mode: FileMode) -> Result<WriteSummary> {
        self.write_with(path, mode, &WriteOptions::default())
    }

    /// [`write`](SimulationResult::write) with options (property sharing, I/O mode,
    /// alignment, MPI-IO hints, progress): see [`WriteOptions::builder`].
    ///
    /// # Collective
    /// # Errors
    /// As [`SimulationResult::write`].
    pub fn write_with(&mut self, path: impl AsRef<Path>, mode: FileMode, options: &WriteOptions) -> Result<WriteSummary> {
        let run_annotations = self.block_annotations();
        let created_at = self.run_created_at();
        let name = self.name.clone();
        let run = BlockMeta { name: &name, annotations: &run_annotations, created_at: &created_at };
        let segments = std::mem::take(&mut self.segments);
        let written = self.transact(path.as_ref(), mode, Job::NewBlock(&run), &segments, options);
        self.segments = segments;
        written.map(|w| w.summary)
    }

    /// The NIX time the run started (the Block's `created_at`).
    pub(crate) fn run_created_at(&self) -> String {
        self.provenance
            .started_at
            .as_deref()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map_or_else(|| self.created_at.clone(), |t| nix_time(t.to_utc()))
    }

    /// One collective write of `segments` and `job` (see [`writer::transact`]).
    pub(crate) fn transact(
        &mut self,
        path: &Path,
        mode: FileMode,
        job: Job<'_>,
        segments: &[Segment],
        options: &WriteOptions,
    ) -> Result<writer::Written> {
        let devices: Vec<String> = self.recorders.iter().map(|r| r.device().name().to_owned()).collect();
        writer::transact(&mut self.comm, path, mode, job, &devices, segments, options)
    }

    /// Hands the buffered segments over (streaming frees them once written).
    pub(crate) fn take_segments(&mut self) -> Vec<Segment> {
        std::mem::take(&mut self.segments)
    }

    /// Agrees on a check that rank 0 makes alone (a path, say).
    pub(crate) fn agree_on_root(&mut self, check: impl FnOnce() -> Result<()>) -> Result<()> {
        let local = if self.comm.is_root() { check() } else { Ok(()) };
        self.comm.agree(Step::Write, local)
    }
}

/// The name MPI gives this process's host.
fn processor_name() -> String {
    mpi::environment::processor_name().unwrap_or_else(|_| "unknown".into())
}

/// The message of a caught panic.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        format!("panicked: {s}")
    } else if let Some(s) = panic.downcast_ref::<String>() {
        format!("panicked: {s}")
    } else {
        "panicked".into()
    }
}
