//! `BlockWriter`: a run's Block written as the caller built it, for results made elsewhere.
//!
//! [`SimulationResult`](crate::SimulationResult) applies this crate's contract: it runs the
//! recorders, draws the segment ids, stamps the annotations and writes its own provenance.
//! A simulator that already has its objects, annotated its own way (BSB's result class,
//! whose recorders append Neo objects), hands them over here instead: the Block's name and
//! annotations and every segment's annotations and objects are written exactly as given,
//! with the same collective write (one transaction per call, no part files, every rank
//! writing its own samples) and `run_index` counted as for any run.

use std::path::{Path, PathBuf};

use mpi::topology::Communicator;

use crate::error::Result;
use crate::model::{Annotations, Segment, Value};
use crate::nix::layout::BlockMeta;
use crate::nix::names::nix_time;
use crate::parallel::comm::{Comm, Step};
use crate::target;
use crate::options::WriteOptions;
use crate::writer::{self, FileMode, Job, WriteSummary};

/// One run's Block on one rank: its name and annotations, and the segments this rank
/// buffered since the last write.
pub struct BlockWriter {
    comm: Comm,
    name: String,
    annotations: Annotations,
    created_at: String,
    segments: Vec<Segment>,
    devices: Vec<String>,
    /// Where the Block was written and its NIX name there (rank 0), after the first write.
    written: Option<(PathBuf, Option<String>)>,
}

impl BlockWriter {
    /// A Block named `name` with `annotations` (`run_index` is added when it is written).
    ///
    /// # Collective
    /// Every rank of `comm` calls it with the same name and annotations (rank 0's are written).
    pub fn new(comm: &impl Communicator, name: &str, annotations: Annotations) -> Self {
        let comm = Comm::new(comm);
        let created_at = comm.broadcast_bytes(0, nix_time(chrono::Utc::now()).into_bytes());
        BlockWriter {
            comm,
            name: name.to_owned(),
            annotations,
            created_at: String::from_utf8_lossy(&created_at).into_owned(),
            segments: Vec::new(),
            devices: Vec::new(),
            written: None,
        }
    }

    /// This rank.
    pub fn rank(&self) -> i32 {
        self.comm.rank()
    }
    /// The number of ranks.
    pub fn size(&self) -> i32 {
        self.comm.size()
    }
    /// The segments buffered on this rank since the last write.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }
    /// The file the Block was written to, once it was.
    pub fn path(&self) -> Option<&Path> {
        self.written.as_ref().map(|(p, _)| p.as_path())
    }

    /// Names a device of this rank, in the order its objects should come in the file.
    pub fn add_device(&mut self, name: &str) {
        if !self.devices.iter().any(|d| d == name) {
            self.devices.push(name.to_owned());
        }
    }

    /// Buffers one segment (a checkpoint) of this rank. Every rank buffers as many
    /// segments before each write, the `i`-th of every rank making the file's `i`-th.
    pub fn push_segment(&mut self, segment: Segment) {
        self.segments.push(segment);
    }

    /// Writes the buffered segments of every rank and frees them: the first write creates
    /// the Block in `path` (with `mode`: `ow` replaces the file, `rw` adds the Block after
    /// the runs already there); later writes append their segments to that Block.
    ///
    /// # Collective
    /// Every rank calls it with the same `path` and `mode`, having buffered as many segments.
    ///
    /// # Errors
    /// Any rank's validation, I/O or HDF5 error, as the same error on every rank; a later
    /// write to another path than the first is refused on every rank. A failed write
    /// leaves the file as it was and the segments buffered.
    pub fn write(&mut self, path: impl AsRef<Path>, mode: FileMode, options: &WriteOptions) -> Result<WriteSummary> {
        let path = path.as_ref();
        let local = match &self.written {
            Some((first, _)) if first != path => Err(crate::Error::Usage(format!(
                "the Block '{}' was written to '{}'; it cannot be continued in '{}'",
                self.name,
                first.display(),
                path.display()
            ))),
            Some(_) => Ok(()),
            None if self.comm.is_root() => target::check(path),
            None => Ok(()),
        };
        self.comm.agree(Step::Write, local)?;
        let segments = std::mem::take(&mut self.segments);
        let meta = BlockMeta { name: &self.name, annotations: &self.annotations, created_at: &self.created_at };
        let block = self.written.as_ref().and_then(|(_, b)| b.clone()).unwrap_or_default();
        let (job, mode) = if self.written.is_some() { (Job::Append(&block), FileMode::Append) } else { (Job::NewBlock(&meta), mode) };
        match writer::transact(&mut self.comm, path, mode, job, &self.devices, &segments, options) {
            Ok(written) => {
                if self.written.is_none() {
                    self.written = Some((path.to_owned(), written.block));
                }
                Ok(written.summary)
            }
            Err(e) => {
                self.segments = segments;
                Err(e)
            }
        }
    }

    /// Sets one annotation of the written Block (a final provenance, say).
    ///
    /// # Collective
    /// # Errors
    /// [`crate::Error::Usage`] on every rank before the first write; as
    /// [`write`](BlockWriter::write) otherwise.
    pub fn annotate(&mut self, key: &str, value: Value, options: &WriteOptions) -> Result<WriteSummary> {
        let local = match &self.written {
            Some(_) => Ok(()),
            None => Err(crate::Error::Usage(format!("the Block '{}' is not written yet; nothing to annotate", self.name))),
        };
        self.comm.agree(Step::Write, local)?;
        let (path, block) = self.written.clone().expect("agreed: written");
        let block = block.unwrap_or_default();
        self.annotations.insert(key, value.clone());
        let job = Job::Annotate { block: &block, key, value: &value };
        Ok(writer::transact(&mut self.comm, &path, FileMode::Append, job, &self.devices, &[], options)?.summary)
    }
}
