//! The collective write of a run into one NIX file.
//!
//! 1. Every rank describes its buffered objects (no samples); rank 0 gathers them.
//! 2. Rank 0 plans the layout and writes the whole NIX structure with the serial driver,
//!    allocating every dataset (HDF5 1.10's MPI-IO driver cannot write the variable-length
//!    strings that NIX metadata is made of). No other rank has the file open meanwhile.
//! 3. All ranks open the file through the MPI-IO driver and write their own samples and
//!    spike times concurrently. (A job of one rank writes them in step 2 instead.)
//! 4. `ow` writes beside the target and renames at the end, so the old file stays intact
//!    until the new one is complete.
//!
//! Every step ends in an agreement, so an error on any rank is every rank's error.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde::Serialize;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::h5::{self, File, Kit, Mode};
use crate::model::{Annotations, Segment, Value};
use crate::nix::layout::{self, BlockMeta, Fill, SegmentJob};
use crate::nix::{fill, names, runs};
use crate::parallel::comm::{Comm, Step};
use crate::parallel::describe::{Description, Payload};
use crate::parallel::plan::{self, Plan};

/// How `write` treats an existing file (CONTRACT.md's file modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FileMode {
    /// `ow`: create, or replace an existing file once the new one is complete.
    #[default]
    Overwrite,
    /// `rw`: add this run's Block beside those already in the file (create if missing).
    Append,
}

impl FromStr for FileMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "ow" => Ok(FileMode::Overwrite),
            "rw" => Ok(FileMode::Append),
            other => Err(Error::invalid("file mode", format!("{other:?} is not one of 'ow', 'rw'"))),
        }
    }
}

/// Called on rank 0 while the layout is written: `(objects done, objects in total)`.
pub type Progress<'a> = &'a (dyn Fn(u64, u64) + Sync);

/// How to write.
#[derive(Clone, Copy)]
pub struct WriteOptions<'a> {
    /// Called on rank 0 while the file is laid out.
    pub progress: Option<Progress<'a>>,
    /// Store each repeated property (and identical time axes) once and hard-link it into
    /// every object that carries it. Neo reads the file the same; it is smaller and much
    /// faster to write. Turn off for a file with a copy per object, as Neo writes it.
    pub share_properties: bool,
    /// MPI-IO hints for the ranks' data phase (`striping_factor`, `striping_unit`,
    /// `romio_cb_write`, ...), as `(key, value)`; passed to `MPI_File_open`.
    pub mpio_hints: &'a [(String, String)],
}

impl Default for WriteOptions<'_> {
    fn default() -> Self {
        WriteOptions { progress: None, share_properties: true, mpio_hints: &[] }
    }
}

/// Counts laid-out objects and reports about every 1% of them.
pub(crate) struct Ticker<'a> {
    done: std::cell::Cell<u64>,
    total: u64,
    every: u64,
    progress: Option<Progress<'a>>,
}

impl<'a> Ticker<'a> {
    fn new(total: u64, progress: Option<Progress<'a>>) -> Self {
        Ticker { done: std::cell::Cell::new(0), total, every: (total / 100).max(1), progress }
    }

    /// One more object laid out.
    pub(crate) fn tick(&self) {
        let done = self.done.get() + 1;
        self.done.set(done);
        if let Some(p) = self.progress.filter(|_| done % self.every == 0) {
            p(done, self.total);
        }
    }

    fn finish(&self) {
        if let Some(p) = self.progress {
            p(self.total, self.total);
        }
    }
}

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
    /// The slowest rank's time to write its data (a lone rank writes it while laying out;
    /// that time is counted here, not in `metadata_seconds`).
    pub data_seconds: f64,
    /// Each rank's time to write its data.
    pub data_seconds_by_rank: Vec<f64>,
    /// Each rank's buffered samples, spike times and array annotations, in bytes.
    pub data_bytes_by_rank: Vec<u64>,
    /// Each rank's peak resident memory so far, in bytes.
    pub peak_memory_by_rank: Vec<u64>,
    /// The whole write, agreement included.
    pub seconds: f64,
}

/// The run-level content of the Block being written.
pub(crate) struct Run<'a> {
    pub name: &'a str,
    pub annotations: &'a Annotations,
    pub created_at: &'a str,
    /// Device names in this rank's registration order.
    pub devices: Vec<String>,
}

/// Writes `segments` (this rank's buffers) as a new Block of `run` into `path`.
///
/// # Collective
/// Every rank of `comm` calls it, with the same `path`, `mode` and number of segments.
pub(crate) fn write(
    comm: &mut Comm,
    path: &Path,
    mode: FileMode,
    run: &Run<'_>,
    segments: &[Segment],
    options: &WriteOptions<'_>,
) -> Result<WriteSummary> {
    let start = Instant::now();
    let preflight = if comm.is_root() { preflight(path, mode) } else { Ok(()) };
    comm.agree(Step::Write, preflight)?;
    let desc = Description::of(run.devices.clone(), segments).encode();
    let total: u64 = comm.all_gather_u64(desc.len() as u64).iter().sum();
    if total > i32::MAX as u64 {
        return Err(Error::invalid(
            "write",
            format!("the ranks' descriptions take {total} bytes, more than rank 0 can gather in one message (2 GiB); use multiplexed recordings"),
        ));
    }
    let gathered = comm.gather_bytes(&desc)?;

    let layout_start = Instant::now();
    let data_time = Cell::new(Duration::ZERO);
    let laid = match gathered {
        Some(descs) => lay_out(path, mode, run, &descs, segments, comm.size(), options, &data_time).map(Some),
        None => Ok(None),
    };
    let metadata_seconds = (layout_start.elapsed() - data_time.get()).as_secs_f64();
    let laid = comm.agree(Step::Layout, laid)?;

    let data_start = Instant::now() - data_time.get();
    let write_path = comm.broadcast_bytes(0, laid.as_ref().map_or(Vec::new(), |l| l.write_path.to_string_lossy().into_owned().into_bytes()));
    let write_path = PathBuf::from(String::from_utf8_lossy(&write_path).into_owned());
    if comm.size() > 1 {
        let parts = laid.as_ref().map(|l| l.plan.payloads.iter().map(|p| postcard::to_stdvec(p).expect("plain data")).collect());
        let mine = comm.scatter_bytes(parts)?;
        let payloads: Vec<Payload> = postcard::from_bytes(&mine).map_err(|e| Error::Collective(format!("payload list unreadable: {e}")))?;
        let visible = std::fs::OpenOptions::new().write(true).open(&write_path).map(drop).map_err(|e| Error::io("open for writing", &write_path, e));
        comm.agree(Step::Data, visible)?;
        let filled = h5::locked(|| Kit::new().and_then(|kit| fill::fill(&write_path, comm, &kit, options.mpio_hints, &payloads, segments)));
        comm.agree(Step::Data, filled.map(drop))?;
    }
    let data_seconds = data_start.elapsed().as_secs_f64();

    let committed = match laid {
        Some(l) => l.commit(path),
        None => Ok(0),
    };
    let file_bytes = comm.agree(Step::Commit, committed)?;
    let (objects, data_bytes) = summary_counts(segments);
    let facts = comm.all_gather_u64s(&[data_seconds.to_bits(), objects, data_bytes, crate::os::peak_memory()]);
    let from_root = comm.broadcast_bytes(0, postcard::to_stdvec(&(metadata_seconds, file_bytes)).expect("plain data"));
    let (metadata_seconds, file_bytes): (f64, u64) =
        postcard::from_bytes(&from_root).map_err(|e| Error::Collective(format!("summary from rank 0 unreadable: {e}")))?;
    let column = |i: usize| facts.chunks(4).map(move |f| f[i]);
    let data_seconds_by_rank: Vec<f64> = column(0).map(f64::from_bits).collect();
    Ok(WriteSummary {
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
        seconds: start.elapsed().as_secs_f64(),
    })
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

/// Rank 0's check of the target before anything is written.
fn preflight(path: &Path, mode: FileMode) -> Result<()> {
    let dir = parent_dir(path);
    if !dir.is_dir() {
        let e = std::io::Error::new(std::io::ErrorKind::NotFound, format!("directory '{}' does not exist", dir.display()));
        return Err(Error::io("create", path, e));
    }
    if path.is_dir() {
        let e = std::io::Error::new(std::io::ErrorKind::IsADirectory, "the output path is a directory");
        return Err(Error::io("create", path, e));
    }
    if mode == FileMode::Append && path.exists() {
        runs::check_nix(path)?;
    }
    Ok(())
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// What rank 0's layout phase leaves for the rest of the write.
pub(crate) struct Laid {
    plan: Plan,
    /// Where the ranks write: a temporary file beside the target, or the target itself.
    write_path: PathBuf,
    /// Set while `write_path` is a temporary file that must not outlive a failure.
    temp: Option<TempFile>,
}

impl Laid {
    /// Moves a temporary file to its final name; returns the final size.
    fn commit(mut self, path: &Path) -> Result<u64> {
        if let Some(temp) = self.temp.take() {
            temp.persist(path)?;
        }
        std::fs::metadata(path).map(|m| m.len()).map_err(|e| Error::io("stat", path, e))
    }
}

/// A file that is removed when dropped unless persisted.
pub(crate) struct TempFile(PathBuf);

impl TempFile {
    /// A hidden name beside `target`.
    fn beside(target: &Path) -> TempFile {
        let name = target.file_name().map_or_else(|| "results.nio".into(), |n| n.to_string_lossy().into_owned());
        let tag = &Uuid::new_v4().simple().to_string()[..8];
        TempFile(parent_dir(target).join(format!(".{name}.{tag}.partial")))
    }

    fn persist(self, target: &Path) -> Result<()> {
        let from = self.0.clone();
        std::fs::File::open(&from).and_then(|f| f.sync_all()).map_err(|e| Error::io("sync", &from, e))?;
        std::fs::rename(&from, target).map_err(|e| Error::io("rename into place", target, e))?;
        std::mem::forget(self);
        if let Ok(dir) = std::fs::File::open(parent_dir(target)) {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Rank 0's serial phase: plan, then write the NIX structure and allocate the datasets.
fn lay_out(
    path: &Path,
    mode: FileMode,
    run: &Run<'_>,
    descs: &[Vec<u8>],
    segments: &[Segment],
    size: i32,
    options: &WriteOptions<'_>,
    data_time: &Cell<Duration>,
) -> Result<Laid> {
    let descs = descs.iter().enumerate().map(|(r, d)| Description::decode(d, r)).collect::<Result<Vec<_>>>()?;
    if let Some((r, d)) = descs.iter().enumerate().find(|(_, d)| d.segments.len() != segments.len()) {
        return Err(Error::Collective(format!(
            "rank {r} has {} segments to write and rank 0 has {}; every rank must flush equally often",
            d.segments.len(),
            segments.len()
        )));
    }
    let block = names::object_name("block", Uuid::new_v4());
    let plan = plan::plan(&descs, &block, &mut Uuid::new_v4);
    let append = mode == FileMode::Append && path.exists();
    let (write_path, temp) = if append {
        (path.to_owned(), None)
    } else {
        let t = TempFile::beside(path);
        (t.0.clone(), Some(t))
    };
    h5::locked(|| -> Result<()> {
        let kit = Kit::new()?;
        let file = if append {
            File::open(&write_path, Mode::ReadWrite, Some(&kit), Some(kit.fapl()))?
        } else {
            let f = File::open(&write_path, Mode::Create, Some(&kit), Some(kit.fapl()))?;
            layout::init_file(&f, &kit, run.created_at)?;
            f
        };
        let run_index = if append { runs::count_named(&file, run.name)? } else { 0 };
        let mut annotations = run.annotations.clone();
        annotations.insert("run_index", Value::Int(i64::try_from(run_index).unwrap_or(i64::MAX)));
        let meta = BlockMeta { name: run.name, annotations: &annotations, created_at: run.created_at };
        let handles = layout::create_block(&file, &kit, &block, &meta)?;
        let fill = if size == 1 { Fill::Now(segments) } else { Fill::Later };
        let ticker = Ticker::new(plan.objects() as u64, options.progress);
        for (index, (segment, seg_plan)) in segments.iter().zip(&plan.segments).enumerate() {
            let created_at = segment.rec_datetime.as_deref().unwrap_or(run.created_at);
            let share = options.share_properties;
            let job = SegmentJob { index, segment, created_at, plan: seg_plan, descs: &descs, fill, share, ticker: &ticker, data_time };
            layout::write_segment(&handles, &kit, &job)?;
        }
        ticker.finish();
        drop(handles);
        file.close()
    })?;
    Ok(Laid { plan, write_path, temp })
}
