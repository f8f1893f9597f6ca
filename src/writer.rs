//! The collective write of results into one NIX file, one transaction at a time.
//!
//! 1. Every rank describes its buffered objects (no samples); rank 0 gathers them.
//! 2. Rank 0 plans the layout, allocates every rank's values as one aligned extent and
//!    sends each rank where its datasets go; then it writes the whole NIX structure alone
//!    over them, through HDF5's serial interface (HDF5 1.10's MPI-IO driver cannot write
//!    the variable-length strings NIX metadata is made of), in a thread of its own.
//! 3. Meanwhile all ranks write their own samples and spike times at those offsets,
//!    through MPI-IO: one collective call per rank (or one independent call per
//!    dataset). A job of one rank takes the same path.
//! 4. Rank 0 commits: a new file is renamed into place (`ow` never exposes a half-written
//!    file), a change to an existing file is applied through its rollback journal.
//!
//! Every step ends in an agreement, so an error on any rank is every rank's error.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::ScopedJoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::h5::{self, File, Kit, Mode};
use crate::model::{Segment, Value};
use crate::nix::layout::{self, BlockMeta, SegmentJob};
use crate::nix::{extents, names, runs};
use crate::parallel::comm::{Comm, Step};
use crate::parallel::comm::scatter_check;
use crate::parallel::describe::{Description, Payload, Shape, payload_data};
use crate::parallel::hints::{self, MpioReport};
use crate::parallel::mpio::{self, Io};
use crate::parallel::plan;
use crate::target::Target;
pub use crate::file_mode::FileMode;
use crate::fault::FaultPoint;
use crate::options::WriteOptions;
use crate::progress::Ticker;

/// What a write did, the same on every rank.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WriteSummary {
    /// The file written.
    pub path: PathBuf,
    /// Spike trains and signals written, over all segments.
    pub objects: usize,
    /// Segments written.
    pub segments: usize,
    /// Bytes of samples, spike times and array annotations.
    pub data_bytes: u64,
    /// Size of the file afterwards.
    pub file_bytes: u64,
    /// Rank 0's time to lay out the file (all metadata).
    pub metadata_seconds: f64,
    /// The slowest rank's time to write its data, from opening the file to its synced close.
    pub data_seconds: f64,
    /// Each rank's time to write its data, from opening the file to its synced close.
    pub data_seconds_by_rank: Vec<f64>,
    /// Each rank's time in its write calls alone (without the sync, which is the disk's).
    pub data_write_seconds_by_rank: Vec<f64>,
    /// Each rank's buffered samples, spike times and array annotations, in bytes.
    pub data_bytes_by_rank: Vec<u64>,
    /// Each rank's peak resident memory so far, in bytes.
    pub peak_memory_by_rank: Vec<u64>,
    /// The whole write, agreement included.
    pub seconds: f64,
    /// The MPI-IO layer, I/O mode and file hints of the data phase.
    pub mpio: MpioReport,
}

impl WriteSummary {
    /// Adds another write of the same file (a stream's checkpoints): counts and times add
    /// up, the file size is the latest, peak memory the highest.
    pub fn add(&mut self, other: &WriteSummary) {
        let sum = |a: &mut Vec<u64>, b: &[u64], f: fn(u64, u64) -> u64| {
            a.resize(a.len().max(b.len()), 0);
            a.iter_mut().zip(b).for_each(|(x, y)| *x = f(*x, *y));
        };
        self.objects += other.objects;
        self.segments += other.segments;
        self.data_bytes += other.data_bytes;
        sum(&mut self.data_bytes_by_rank, &other.data_bytes_by_rank, u64::saturating_add);
        sum(&mut self.peak_memory_by_rank, &other.peak_memory_by_rank, u64::max);
        self.file_bytes = other.file_bytes;
        self.metadata_seconds += other.metadata_seconds;
        self.data_seconds += other.data_seconds;
        let add = |a: &mut Vec<f64>, b: &[f64]| {
            a.resize(a.len().max(b.len()), 0.0);
            a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        };
        add(&mut self.data_seconds_by_rank, &other.data_seconds_by_rank);
        add(&mut self.data_write_seconds_by_rank, &other.data_write_seconds_by_rank);
        self.seconds += other.seconds;
        self.mpio.clone_from(&other.mpio);
    }
}

/// What rank 0 lays out in one transaction, besides the segments.
#[derive(Clone, Copy)]
pub(crate) enum Job<'a> {
    /// A new Block for the run, holding the segments.
    NewBlock(&'a BlockMeta<'a>),
    /// The segments, added to the Block of this NIX name.
    Append(&'a str),
    /// A new value for one annotation of the Block of this NIX name.
    Annotate { block: &'a str, key: &'a str, value: &'a Value },
}

/// A committed write: the summary (on every rank) and the Block's NIX name (on rank 0).
pub(crate) struct Written {
    pub summary: WriteSummary,
    pub block: Option<String>,
}

/// Writes `segments` (this rank's buffers) and the `job` into `path` in one transaction.
///
/// Rank 0 lays the file out in a thread of its own, which hands over where the ranks'
/// values go as soon as it has allocated them; the ranks write their data while rank 0
/// writes the metadata, and the transaction commits once both are done. HDF5 runs in
/// that thread only; MPI in the calling thread only.
///
/// # Collective
/// Every rank of `comm` calls it, with the same `path`, `mode`, job kind and number of
/// segments; `devices` are this rank's, in registration order.
pub(crate) fn transact(
    comm: &mut Comm,
    path: &Path,
    mode: FileMode,
    job: Job<'_>,
    devices: &[String],
    segments: &[Segment],
    options: &WriteOptions,
) -> Result<Written> {
    let start = Instant::now();
    let (layer, limits) = mpio::layer();
    comm.agree(Step::Write, hints::validate(options.mpio_hints(), layer, limits))?;
    let desc = Description::of(devices.to_vec(), segments).encode();
    let gathered = comm.gather_bytes(&desc);
    drop(desc);
    let Some(descs) = gathered else {
        return write_and_commit(comm, path, options, segments, layer.name(), None, start);
    };
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel();
        let layout = scope.spawn(move || {
            let begun = Instant::now();
            let laid = lay_out(path, mode, job, &descs, segments, options, &tx);
            laid.map(|(target, block)| Laid { target, block, seconds: begun.elapsed().as_secs_f64() })
        });
        // The layout sends where the ranks write, or ends (with its error) before that.
        let root = match rx.recv() {
            Ok(early) => Root { early: Ok(early), layout: Some(layout) },
            Err(_) => {
                let ended = join(layout).and_then(|_| Err(Error::Collective("rank 0's layout ended without allocating the data".into())));
                Root { early: ended, layout: None }
            }
        };
        write_and_commit(comm, path, options, segments, layer.name(), Some(root), start)
    })
}

/// Where the ranks write: what rank 0's layout knows once it has allocated their values.
struct Early {
    write_path: PathBuf,
    /// Per rank, the datasets it fills and where, encoded for the scatter.
    parts: Vec<Vec<u8>>,
}

/// What rank 0's layout leaves for the commit.
struct Laid {
    target: Target,
    /// The Block's NIX name.
    block: String,
    /// The time the layout took.
    seconds: f64,
}

/// Rank 0's side of a transaction: where the ranks write (or why not), and its layout
/// still running.
struct Root<'s> {
    early: Result<Early>,
    layout: Option<ScopedJoinHandle<'s, Result<Laid>>>,
}

/// Waits for rank 0's layout; a panic in it becomes an error that every rank agrees on.
fn join(layout: ScopedJoinHandle<'_, Result<Laid>>) -> Result<Laid> {
    layout.join().unwrap_or_else(|panic| {
        let message = panic.downcast_ref::<&str>().map(|s| (*s).to_owned()).or_else(|| panic.downcast_ref::<String>().cloned());
        Err(Error::Collective(format!("rank 0's layout panicked: {}", message.unwrap_or_default())))
    })
}

/// The transaction from the allocation of the data on: the data phase beside rank 0's
/// layout, then the commit. Any error waits for the layout to end and drops it, which
/// leaves the target as it was.
///
/// # Collective
fn write_and_commit(comm: &mut Comm, path: &Path, options: &WriteOptions, segments: &[Segment], layer: &str, root: Option<Root<'_>>, start: Instant) -> Result<Written> {
    let (early, layout) = match root {
        Some(Root { early, layout }) => (early.map(Some), layout),
        None => (Ok(None), None),
    };
    let finish = |layout: Option<ScopedJoinHandle<'_, Result<Laid>>>| layout.map(join).transpose();
    let data_start = Instant::now();
    let data = comm.agree(Step::Layout, early).and_then(|early| data_phase(comm, early, options, segments));
    let (write_time, file_hints) = match data {
        Ok(done) => done,
        Err(e) => {
            let _ = finish(layout);
            return Err(e);
        }
    };
    let data_seconds = data_start.elapsed().as_secs_f64();
    let write_seconds = write_time.as_secs_f64();
    let mpio = MpioReport { layer: layer.to_owned(), io: options.io().name().to_owned(), hints: file_hints };
    let laid = comm.agree(Step::Layout, finish(layout))?;
    let metadata_seconds = laid.as_ref().map_or(0.0, |l| l.seconds);

    let committed = match laid {
        Some(l) => {
            let halfway = || options.trip(0, FaultPoint::Commit, path);
            l.target.commit(&halfway).map(|size| (size, Some(l.block)))
        }
        None => Ok((0, None)),
    };
    let (file_bytes, block) = comm.agree(Step::Commit, committed)?;
    let (objects, data_bytes) = summary_counts(segments);
    let facts = comm.all_gather_u64s(&[data_seconds.to_bits(), objects, data_bytes, crate::os::peak_memory(), write_seconds.to_bits()]);
    let from_root = comm.broadcast_bytes(0, postcard::to_stdvec(&(metadata_seconds, file_bytes)).expect("plain data"));
    let (metadata_seconds, file_bytes): (f64, u64) =
        postcard::from_bytes(&from_root).map_err(|e| Error::Collective(format!("summary from rank 0 unreadable: {e}")))?;
    let column = |i: usize| facts.chunks(5).map(move |f| f[i]);
    let data_seconds_by_rank: Vec<f64> = column(0).map(f64::from_bits).collect();
    let summary = WriteSummary {
        path: path.to_owned(),
        objects: usize::try_from(column(1).sum::<u64>()).unwrap_or(usize::MAX),
        segments: segments.len(),
        data_bytes: column(2).sum(),
        data_bytes_by_rank: column(2).collect(),
        peak_memory_by_rank: column(3).collect(),
        file_bytes,
        metadata_seconds,
        data_seconds: data_seconds_by_rank.iter().copied().fold(0.0, f64::max),
        data_seconds_by_rank,
        data_write_seconds_by_rank: column(4).map(f64::from_bits).collect(),
        seconds: start.elapsed().as_secs_f64(),
        mpio,
    };
    Ok(Written { summary, block })
}

/// Hands every rank where it writes (`early`, on rank 0), then writes this rank's data.
///
/// # Collective
fn data_phase(comm: &mut Comm, early: Option<Early>, options: &WriteOptions, segments: &[Segment]) -> Result<(Duration, Vec<(String, String)>)> {
    let (write_path, parts) = match early {
        Some(e) => (e.write_path.to_string_lossy().into_owned().into_bytes(), Some(e.parts)),
        None => (Vec::new(), None),
    };
    let write_path = PathBuf::from(String::from_utf8_lossy(&comm.broadcast_bytes(0, write_path)).into_owned());
    let mine = comm.scatter_bytes(parts);
    let payloads = postcard::from_bytes::<Vec<Payload>>(&mine)
        .map_err(|e| Error::Collective(format!("payload list unreadable on rank {}: {e}", comm.rank())))
        .and_then(|p| {
            let visible = std::fs::OpenOptions::new().write(true).open(&write_path);
            visible.map(|_| p).map_err(|e| Error::io("open for writing", &write_path, e))
        });
    let payloads = comm.agree(Step::Data, payloads)?;
    fill(comm, &write_path, options, &payloads, segments)
}

/// This rank's data phase: the values of its payloads, written at their offsets, and the
/// file's hints as MPI-IO reports them (on rank 0). The rank takes part in every
/// collective call of the phase even if it has nothing to write or cannot find its data
/// (it then writes nothing and reports the error); the open and the writes each end in an
/// agreement.
///
/// # Collective
fn fill(comm: &mut Comm, path: &Path, options: &WriteOptions, payloads: &[Payload], segments: &[Segment]) -> Result<(Duration, Vec<(String, String)>)> {
    let data: Result<Vec<_>> = payloads.iter().map(|p| payload_data(segments, p)).collect();
    let pieces: Vec<(u64, &[u8])> = match &data {
        Ok(data) => payloads.iter().zip(data).map(|(p, d)| (p.offset, mpio::bytes_of(&d.nums()))).collect(),
        Err(_) => Vec::new(),
    };
    let hints = match options.io() {
        Io::Collective => hints::collective(options.mpio_hints()),
        Io::Independent => options.mpio_hints().to_vec(),
    };
    let round = hints::round_bytes(&hints);
    let rounds = match options.io() {
        Io::Collective => comm.all_gather_u64(mpio::rounds(&pieces, round) as u64).into_iter().max().unwrap_or(0),
        Io::Independent => 0,
    };
    let (file, opened) = mpio::open(comm, path, &hints);
    let opened = opened.and_then(|()| options.trip(comm.rank(), FaultPoint::Open, path));
    if let Err(e) = comm.agree(Step::Data, opened) {
        if let Some(f) = file {
            // The ranks that hold the file close it together; the error is the agreed one.
            let _ = f.close();
        }
        return Err(e);
    }
    let file = file.expect("every rank opened the file");
    let file_hints = if comm.is_root() { file.hints() } else { Vec::new() };
    let halfway = || options.trip(comm.rank(), FaultPoint::Data, path);
    let written = match options.io() {
        Io::Collective => file.write_collective(&pieces, round, usize::try_from(rounds).unwrap_or(usize::MAX), &halfway),
        Io::Independent => file.write_independent(&pieces, &halfway),
    };
    let closed = file.close();
    let outcome = data.and(written).and_then(|t| closed.map(|()| t));
    comm.agree(Step::Data, outcome).map(|t| (t, file_hints))
}

/// `(objects, data bytes)` of this rank's buffers.
fn summary_counts(segments: &[Segment]) -> (u64, u64) {
    let mut objects = 0;
    let mut bytes = 0u64;
    for s in segments {
        objects += (s.spiketrains.len() + s.analogsignals.len()) as u64;
        bytes += s.spiketrains.iter().map(|t| 8 * t.times.len() as u64).sum::<u64>();
        bytes += s.analogsignals.iter().map(|a| 8 * a.data.len() as u64).sum::<u64>();
    }
    (objects, bytes)
}

/// The bytes of the ranks' samples and spike times in `descs`: what a write needs at least.
fn data_bytes(descs: &[Description]) -> u64 {
    let objects = descs.iter().flat_map(|d| &d.segments).flat_map(|s| s.spiketrains.iter().chain(&s.analogsignals));
    objects
        .map(|o| match &o.shape {
            Shape::Spikes { n, .. } => 8 * n,
            Shape::Signal { n_samples, n_channels, .. } => 8 * n_samples * u64::from(*n_channels),
        })
        .sum()
}

/// Rank 0's serial phase: plan, allocate the data (and send where it goes through
/// `early`), then lay the job out in the target; returns the target and the Block's
/// NIX name.
fn lay_out(path: &Path, mode: FileMode, job: Job<'_>, descs: &[Vec<u8>], segments: &[Segment], options: &WriteOptions, early: &mpsc::Sender<Early>) -> Result<(Target, String)> {
    let descs = descs.iter().enumerate().map(|(r, d)| Description::decode(d, r)).collect::<Result<Vec<_>>>()?;
    if let Some((r, d)) = descs.iter().enumerate().find(|(_, d)| d.segments.len() != segments.len()) {
        return Err(Error::Collective(format!(
            "rank {r} has {} segments to write and rank 0 has {}; every rank must flush equally often",
            d.segments.len(),
            segments.len()
        )));
    }
    let target = Target::open(path, mode)?;
    target.check_space(data_bytes(&descs))?;
    if target.is_new() && !matches!(job, Job::NewBlock(_)) {
        return Err(Error::Usage(format!("'{}' no longer holds the Block being written", path.display())));
    }
    let plan = plan::plan(&descs, &mut Uuid::new_v4);
    let block = target.settle(h5::locked(|| -> Result<String> {
        let kit = Kit::new()?;
        let fapl = target.fapl(kit.fapl())?;
        h5::set_file_space(fapl.id())?;
        let mode = if target.is_new() { Mode::Create } else { Mode::ReadWrite };
        let file = File::open(target.write_path(), mode, Some(&kit), Some(fapl.id()))?;
        let extents = extents::reserve(&file, &plan, &descs, options.align())?;
        for (rank, list) in extents.payloads.iter().enumerate() {
            for p in list {
                target.check_offset(p.offset, &|| format!("a dataset of rank {rank}"))?;
            }
        }
        let parts: Vec<Vec<u8>> = extents.payloads.iter().map(|p| postcard::to_stdvec(p).expect("plain data")).collect();
        scatter_check(&parts)?;
        // The ranks write from here on; a failure below still fails the transaction.
        let _ = early.send(Early { write_path: target.write_path().to_owned(), parts });
        let written_at = names::nix_time(chrono::Utc::now());
        if !target.is_new() {
            let block = match job {
                Job::NewBlock(_) => None,
                Job::Append(block) | Job::Annotate { block, .. } => Some(block),
            };
            layout::touch(&file, &kit, block, &written_at)?;
        }
        let (mut handles, block) = match job {
            Job::NewBlock(run) => {
                if target.is_new() {
                    layout::init_file(&file, &kit, run.created_at, &written_at)?;
                }
                let block = names::object_name("block", Uuid::new_v4());
                let run_index = if target.is_new() { 0 } else { runs::count_named(&file, run.name)? };
                let mut annotations = run.annotations.clone();
                annotations.insert("run_index", Value::Int(i64::try_from(run_index).unwrap_or(i64::MAX)));
                let meta = BlockMeta { annotations: &annotations, ..*run };
                (layout::create_block(&file, &kit, &block, &meta, &written_at)?, block)
            }
            Job::Append(block) => (layout::open_block(&file, block)?, block.to_owned()),
            Job::Annotate { block, key, value } => {
                layout::annotate_block(&file, &kit, block, key, value, &written_at)?;
                (layout::open_block(&file, block)?, block.to_owned())
            }
        };
        let ticker = Ticker::new(plan.objects() as u64, options.progress());
        for (index, (segment, seg_plan)) in segments.iter().zip(&plan.segments).enumerate() {
            let created_at = segment.rec_datetime.as_deref().unwrap_or("19700101T000000");
            let share = options.share_properties();
            let job = SegmentJob { index, segment, created_at, written_at: &written_at, plan: seg_plan, descs: &descs, share, ticker: &ticker, reserved: &extents.offsets };
            layout::write_segment(&mut handles, &kit, &job)?;
        }
        handles.finish(&kit)?;
        ticker.finish();
        options.trip(0, FaultPoint::Layout, path)?;
        file.close()?;
        Ok(block)
    }))?;
    Ok((target, block))
}
