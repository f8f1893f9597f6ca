//! The data phase: every rank opens the laid-out file through HDF5's MPI-IO driver and
//! writes the samples and spike times of its own objects into datasets rank 0 allocated.
//!
//! Each dataset is contiguous and allocated at creation, and nothing changes file
//! metadata here, so the independent open, write and close of a dataset are safe; only
//! the file's open and close are collective.

use std::path::Path;

use crate::error::Result;
use crate::h5::{self, File, Kit, Mode};
use crate::model::Segment;
use crate::parallel::comm::Comm;
use crate::parallel::describe::{Payload, payload_data};

/// Writes this rank's `payloads` from its `segments` into `path`, opening it with the
/// MPI-IO `hints`; returns the bytes written.
///
/// # Collective
/// Every rank of `comm` calls it, with or without payloads.
///
/// # Errors
/// The first HDF5 error of this rank (the caller agrees on errors across ranks). The file
/// is closed on every rank either way, because closing is collective.
pub(crate) fn fill(path: &Path, comm: &Comm, kit: &Kit, hints: &[(String, String)], payloads: &[Payload], segments: &[Segment]) -> Result<u64> {
    let fapl = h5::mpio_fapl(comm.as_raw(), hints)?;
    let file = File::open(path, Mode::ReadWrite, None, Some(fapl.id()))?;
    let written = write_all(&file, kit, payloads, segments);
    let closed = file.close();
    let bytes = written?;
    closed.map(|()| bytes)
}

fn write_all(file: &File, kit: &Kit, payloads: &[Payload], segments: &[Segment]) -> Result<u64> {
    let mut bytes = 0u64;
    for p in payloads {
        let data = payload_data(segments, p)?;
        let nums = data.nums();
        bytes += nums.bytes() as u64;
        file.open_path(&p.path, None)?.write(kit, nums)?;
    }
    Ok(bytes)
}
