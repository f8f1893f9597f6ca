//! The data phase over MPI-IO: every rank writes its samples and spike times at the file
//! offsets rank 0's HDF5 allocated for them. The one unsafe module for MPI's C interface.
//!
//! The datasets are contiguous and allocated in advance, so their bytes are plain
//! little-endian arrays at known offsets: nothing about the file's structure changes.

use std::ffi::{c_char, c_int};
use std::path::Path;

use mpi::ffi::{
    MPI_Error_string, MPI_File, MPI_File_close, MPI_File_open, MPI_File_sync, MPI_File_write_at, MPI_Info, MPI_Info_create,
    MPI_Info_free, MPI_Info_set, MPI_MAX_ERROR_STRING, MPI_MODE_WRONLY, MPI_Offset, MPI_SUCCESS, RSMPI_INFO_NULL,
    RSMPI_STATUS_IGNORE, RSMPI_UINT8_T,
};

use super::comm::Comm;
use crate::error::{Error, Result};
use crate::h5::Nums;

#[cfg(target_endian = "big")]
compile_error!("the MPI-IO data phase writes native bytes into little-endian datasets");

/// The largest piece one `MPI_File_write_at` writes (its count is an `int`).
const PIECE: usize = 1 << 30;

/// The bytes of numeric values as the file stores them (little-endian, checked above).
pub(crate) fn bytes_of<'a>(values: &Nums<'a>) -> &'a [u8] {
    // SAFETY: f64, i64 and i8 slices are plain, initialized memory; the byte view covers
    // exactly their storage and lives as long as they do.
    unsafe {
        match *values {
            Nums::F64(v) => std::slice::from_raw_parts(v.as_ptr().cast(), std::mem::size_of_val(v)),
            Nums::I64(v) => std::slice::from_raw_parts(v.as_ptr().cast(), std::mem::size_of_val(v)),
            Nums::Bool(v) => std::slice::from_raw_parts(v.as_ptr().cast(), v.len()),
        }
    }
}

/// MPI-IO hints as an `MPI_Info`, freed on drop.
pub(crate) struct Info(MPI_Info);

impl Info {
    /// An info object holding `hints` (`MPI_INFO_NULL` when there are none).
    pub(crate) fn new(hints: &[(String, String)]) -> Result<Info> {
        // SAFETY: RSMPI_INFO_NULL is a valid handle constant.
        let mut info = Info(unsafe { RSMPI_INFO_NULL });
        if hints.is_empty() {
            return Ok(info);
        }
        // SAFETY: creates an info object and sets NUL-terminated keys and values.
        unsafe {
            check(MPI_Info_create(&raw mut info.0), "create MPI info", Path::new(""))?;
            for (key, value) in hints {
                let (k, v) = (crate::h5::cstr(key), crate::h5::cstr(value));
                check(MPI_Info_set(info.0, k.as_ptr(), v.as_ptr()), "set MPI-IO hint", Path::new(""))?;
            }
        }
        Ok(info)
    }

    pub(crate) fn raw(&self) -> MPI_Info {
        self.0
    }
}

impl Drop for Info {
    fn drop(&mut self) {
        // SAFETY: frees an info object this value created (never the null handle).
        unsafe {
            if self.0 != RSMPI_INFO_NULL {
                MPI_Info_free(&raw mut self.0);
            }
        }
    }
}

/// Writes `(offset, bytes)` pieces into `path`, syncs and closes it; returns the time
/// spent in the write calls alone (the sync is the disk's time, not the rank's).
/// `halfway` runs after half of the pieces (fault-injection tests hook in there).
///
/// # Collective
/// Every rank of `comm` calls it, with or without pieces: the open, the sync and the
/// close are collective. A failed write still takes part in them.
///
/// # Errors
/// [`Error::Io`] naming the path, with MPI's error message.
pub(crate) fn write_at(
    comm: &Comm,
    path: &Path,
    hints: &[(String, String)],
    pieces: &[(u64, &[u8])],
    halfway: &dyn Fn() -> Result<()>,
) -> Result<std::time::Duration> {
    let info = Info::new(hints)?;
    let name = crate::h5::cstr(&path.to_string_lossy());
    let mut fh: MPI_File = std::ptr::null_mut();
    // SAFETY: collective open with a NUL-terminated name and a valid info handle.
    let opened = unsafe { MPI_File_open(comm.as_raw(), name.as_ptr(), MPI_MODE_WRONLY as c_int, info.raw(), &raw mut fh) };
    check(opened, "open (MPI-IO) for writing", path)?;
    let mut writing = std::time::Duration::ZERO;
    let mut outcome = Ok(());
    'pieces: for (n, (offset, bytes)) in pieces.iter().enumerate() {
        if n == pieces.len() / 2 {
            outcome = halfway();
            if outcome.is_err() {
                break 'pieces;
            }
        }
        for (i, piece) in bytes.chunks(PIECE).enumerate() {
            let at = MPI_Offset::try_from(offset + (i * PIECE) as u64).unwrap_or(MPI_Offset::MAX);
            let count = c_int::try_from(piece.len()).expect("pieces are at most 1 GiB");
            let start = std::time::Instant::now();
            // SAFETY: an open file; `piece` is `count` readable bytes.
            let rc = unsafe { MPI_File_write_at(fh, at, piece.as_ptr().cast(), count, RSMPI_UINT8_T, RSMPI_STATUS_IGNORE) };
            writing += start.elapsed();
            outcome = check(rc, "write (MPI-IO)", path);
            if outcome.is_err() {
                break 'pieces;
            }
        }
    }
    // SAFETY: collective sync and close of the file opened above, on every rank.
    let (synced, closed) = unsafe { (MPI_File_sync(fh), MPI_File_close(&raw mut fh)) };
    outcome?;
    check(synced, "sync (MPI-IO)", path)?;
    check(closed, "close (MPI-IO)", path)?;
    Ok(writing)
}

/// Turns an MPI return code into an error naming `op` and `path`.
fn check(rc: c_int, op: &'static str, path: &Path) -> Result<()> {
    if rc == MPI_SUCCESS as c_int {
        return Ok(());
    }
    let mut text = [0 as c_char; MPI_MAX_ERROR_STRING as usize + 1];
    let mut len: c_int = 0;
    // SAFETY: a buffer of MPI_MAX_ERROR_STRING + 1 bytes, as MPI requires.
    let message = unsafe {
        MPI_Error_string(rc, text.as_mut_ptr(), &raw mut len);
        std::ffi::CStr::from_ptr(text.as_ptr()).to_string_lossy().into_owned()
    };
    Err(Error::io(op, path, std::io::Error::other(message)))
}
