//! The data phase over MPI-IO: every rank writes its samples and spike times at the file
//! offsets rank 0 allocated for them. The one unsafe module for MPI's C interface.
//!
//! The datasets are contiguous and allocated in advance, so their bytes are plain
//! little-endian arrays at known offsets: nothing about the file's structure changes.
//! Collectively, a rank's pieces become one file view and one `MPI_File_write_at_all`
//! per round of at most [`ROUND`] bytes, so MPI's collective buffering (and its hints)
//! act; independently, each piece is one `MPI_File_write_at`.

use std::ffi::{c_char, c_int};
use std::path::Path;
use std::time::{Duration, Instant};

use mpi::ffi::{
    MPI_Aint, MPI_Datatype, MPI_Error_string, MPI_File, MPI_File_close, MPI_File_get_info,
    MPI_File_open, MPI_File_set_errhandler, MPI_File_set_view, MPI_File_sync, MPI_File_write_at,
    MPI_File_write_at_all, MPI_Get_library_version, MPI_Info, MPI_Info_create, MPI_Info_free,
    MPI_Info_get, MPI_Info_get_nkeys, MPI_Info_get_nthkey, MPI_Info_set, MPI_MAX_ERROR_STRING,
    MPI_MAX_INFO_KEY, MPI_MAX_INFO_VAL, MPI_MAX_LIBRARY_VERSION_STRING, MPI_MODE_WRONLY,
    MPI_Offset, MPI_SUCCESS, MPI_Type_commit, MPI_Type_create_hindexed, MPI_Type_free,
    RSMPI_ERRORS_RETURN, RSMPI_FILE_NULL, RSMPI_INFO_NULL, RSMPI_STATUS_IGNORE, RSMPI_UINT8_T,
};

use super::comm::Comm;
use super::hints::{Layer, Limits};
use crate::error::{Error, Result};
use crate::h5::Nums;

#[cfg(target_endian = "big")]
compile_error!("the MPI-IO data phase writes native bytes into little-endian datasets");

/// The largest block one write or one datatype block holds (counts are `int`s).
const PIECE: usize = 1 << 30;

/// The most bytes one collective write call carries.
const ROUND: usize = 1 << 30;

/// How the ranks write their data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Io {
    /// One collective `MPI_File_write_at_all` per rank and checkpoint (per GiB), over a
    /// file view of the rank's datasets: MPI's collective buffering and hints act.
    #[default]
    Collective,
    /// One `MPI_File_write_at` per dataset, as each rank finds it.
    Independent,
}

impl Io {
    /// `collective` or `independent`.
    pub fn name(self) -> &'static str {
        match self {
            Io::Collective => "collective",
            Io::Independent => "independent",
        }
    }
}

impl std::str::FromStr for Io {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "collective" => Ok(Io::Collective),
            "independent" => Ok(Io::Independent),
            other => Err(Error::invalid(
                "I/O mode",
                format!("{other:?} is not one of 'collective', 'independent'"),
            )),
        }
    }
}

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

/// The MPI-IO layer of this process and the lengths of hints MPI holds. Calls only
/// `MPI_Get_library_version`, which MPI allows at any time.
pub(crate) fn layer() -> (Layer, Limits) {
    let mut text = [0 as c_char; MPI_MAX_LIBRARY_VERSION_STRING as usize + 1];
    let mut len: c_int = 0;
    // SAFETY: a buffer of MPI_MAX_LIBRARY_VERSION_STRING + 1 bytes, as MPI requires; MPI
    // NUL-terminates the text.
    let version = unsafe {
        MPI_Get_library_version(text.as_mut_ptr(), &raw mut len);
        std::ffi::CStr::from_ptr(text.as_ptr())
            .to_string_lossy()
            .into_owned()
    };
    let io = std::env::var("OMPI_MCA_io").ok();
    let limits = Limits {
        key: MPI_MAX_INFO_KEY as usize,
        value: MPI_MAX_INFO_VAL as usize,
    };
    (Layer::detect(&version, io.as_deref()), limits)
}

/// MPI-IO hints as an `MPI_Info`, freed on drop.
pub(crate) struct Info(MPI_Info);

impl Info {
    /// An info object holding `hints` (`MPI_INFO_NULL` when there are none). The hints
    /// must have passed [`super::hints::validate`]: MPI aborts on a key it cannot hold.
    pub(crate) fn new(hints: &[(String, String)]) -> Result<Info> {
        // SAFETY: RSMPI_INFO_NULL is a valid handle constant.
        let mut info = Info(unsafe { RSMPI_INFO_NULL });
        if hints.is_empty() {
            return Ok(info);
        }
        // SAFETY: creates an info object and sets NUL-terminated keys and values, whose
        // lengths were checked against MPI's limits.
        unsafe {
            check(
                MPI_Info_create(&raw mut info.0),
                "create MPI info",
                Path::new(""),
            )?;
            for (key, value) in hints {
                let (k, v) = (crate::h5::cstr(key), crate::h5::cstr(value));
                check(
                    MPI_Info_set(info.0, k.as_ptr(), v.as_ptr()),
                    "set MPI-IO hint",
                    Path::new(""),
                )?;
            }
        }
        Ok(info)
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

/// A file open for the data phase, on every rank of the communicator.
pub(crate) struct DataFile<'p> {
    fh: MPI_File,
    path: &'p Path,
}

/// Opens `path` for writing on every rank, with `hints`; errors come back as values
/// (`MPI_ERRORS_RETURN`), never as an abort. Returns the handle where this rank holds
/// one, and the outcome, which the caller must agree on before anything else.
///
/// # Collective
/// `MPI_File_open` on every rank of `comm`.
pub(crate) fn open<'p>(
    comm: &Comm,
    path: &'p Path,
    hints: &[(String, String)],
) -> (Option<DataFile<'p>>, Result<()>) {
    let info = Info::new(hints);
    let name = crate::h5::cstr(&path.to_string_lossy());
    let mut fh: MPI_File = std::ptr::null_mut();
    // SAFETY: sets the default error handler of files (RSMPI_FILE_NULL) to return codes,
    // then a collective open with a NUL-terminated name and a valid info handle.
    let opened = unsafe {
        MPI_File_set_errhandler(RSMPI_FILE_NULL, RSMPI_ERRORS_RETURN);
        let raw = info.as_ref().map_or(RSMPI_INFO_NULL, |i| i.0);
        MPI_File_open(
            comm.as_raw(),
            name.as_ptr(),
            MPI_MODE_WRONLY as c_int,
            raw,
            &raw mut fh,
        )
    };
    let outcome = info
        .map(drop)
        .and(check(opened, "open (MPI-IO) for writing", path));
    if opened != MPI_SUCCESS as c_int {
        return (None, outcome);
    }
    // SAFETY: an open file handle.
    unsafe { MPI_File_set_errhandler(fh, RSMPI_ERRORS_RETURN) };
    (Some(DataFile { fh, path }), outcome)
}

impl DataFile<'_> {
    /// The file's hints as MPI reports them (`MPI_File_get_info`).
    pub(crate) fn hints(&self) -> Vec<(String, String)> {
        // SAFETY: RSMPI_INFO_NULL is a valid handle constant, overwritten by MPI below.
        let mut info: MPI_Info = unsafe { RSMPI_INFO_NULL };
        let mut hints = Vec::new();
        // SAFETY: an open file; keys and values go into buffers of MPI's maximum lengths
        // plus the NUL; the info object MPI returns is freed here.
        unsafe {
            if MPI_File_get_info(self.fh, &raw mut info) != MPI_SUCCESS as c_int {
                return hints;
            }
            let mut n: c_int = 0;
            MPI_Info_get_nkeys(info, &raw mut n);
            for i in 0..n {
                let mut key = [0 as c_char; MPI_MAX_INFO_KEY as usize + 1];
                let mut value = [0 as c_char; MPI_MAX_INFO_VAL as usize + 1];
                let mut flag: c_int = 0;
                MPI_Info_get_nthkey(info, i, key.as_mut_ptr());
                MPI_Info_get(
                    info,
                    key.as_ptr(),
                    MPI_MAX_INFO_VAL as c_int,
                    value.as_mut_ptr(),
                    &raw mut flag,
                );
                if flag != 0 {
                    let text = |b: &[c_char]| {
                        std::ffi::CStr::from_ptr(b.as_ptr())
                            .to_string_lossy()
                            .into_owned()
                    };
                    hints.push((text(&key), text(&value)));
                }
            }
            MPI_Info_free(&raw mut info);
        }
        hints
    }

    /// Writes `(offset, bytes)` pieces, one `MPI_File_write_at` each; returns the time
    /// spent in the write calls. `halfway` runs after half of the pieces.
    pub(crate) fn write_independent(
        &self,
        pieces: &[(u64, &[u8])],
        halfway: &dyn Fn() -> Result<()>,
    ) -> Result<Duration> {
        let mut writing = Duration::ZERO;
        for (n, (offset, bytes)) in pieces.iter().enumerate() {
            if n == pieces.len() / 2 {
                halfway()?;
            }
            for (i, piece) in bytes.chunks(PIECE).enumerate() {
                let at =
                    MPI_Offset::try_from(offset + (i * PIECE) as u64).unwrap_or(MPI_Offset::MAX);
                let count = c_int::try_from(piece.len()).expect("pieces are at most 1 GiB");
                let start = Instant::now();
                // SAFETY: an open file; `piece` is `count` readable bytes.
                let rc = unsafe {
                    MPI_File_write_at(
                        self.fh,
                        at,
                        piece.as_ptr().cast(),
                        count,
                        RSMPI_UINT8_T,
                        RSMPI_STATUS_IGNORE,
                    )
                };
                writing += start.elapsed();
                check(rc, "write (MPI-IO)", self.path)?;
            }
        }
        Ok(writing)
    }

    /// Writes `(offset, bytes)` pieces (at distinct, non-overlapping offsets) in `rounds`
    /// collective calls, each over a file view of this rank's pieces of that round. A rank
    /// whose pieces take fewer rounds, or that failed, still takes part with nothing.
    /// `halfway` runs before the middle round. Returns the time spent in the write calls.
    ///
    /// # Collective
    /// `MPI_File_set_view` and `MPI_File_write_at_all` `rounds` times on every rank;
    /// `rounds` must be the same everywhere (at least [`rounds`] of every rank's pieces).
    pub(crate) fn write_collective(
        &self,
        pieces: &[(u64, &[u8])],
        rounds: usize,
        halfway: &dyn Fn() -> Result<()>,
    ) -> Result<Duration> {
        let mut blocks: Vec<(u64, &[u8])> = Vec::new();
        for (offset, bytes) in pieces {
            blocks.extend(
                bytes
                    .chunks(PIECE)
                    .enumerate()
                    .map(|(i, b)| (offset + (i * PIECE) as u64, b)),
            );
        }
        blocks.sort_unstable_by_key(|b| b.0);
        let mut batches = batches(&blocks).into_iter();
        let mut writing = Duration::ZERO;
        let mut outcome = Ok(());
        for round in 0..rounds {
            if round == rounds / 2 && outcome.is_ok() {
                outcome = halfway();
            }
            let mine = if outcome.is_ok() {
                batches.next().unwrap_or(&[])
            } else {
                &[]
            };
            let start = Instant::now();
            let written = self.write_round(mine);
            writing += start.elapsed();
            if outcome.is_ok() {
                outcome = written;
            }
        }
        outcome.map(|()| writing)
    }

    /// One collective round: the view over `blocks` (sorted by offset) and one write.
    fn write_round(&self, blocks: &[(u64, &[u8])]) -> Result<()> {
        let lens: Vec<c_int> = blocks
            .iter()
            .map(|b| c_int::try_from(b.1.len()).expect("blocks are at most 1 GiB"))
            .collect();
        let at: Vec<MPI_Aint> = blocks
            .iter()
            .map(|b| MPI_Aint::try_from(b.0).unwrap_or(MPI_Aint::MAX))
            .collect();
        let base = blocks.first().map_or(std::ptr::null(), |b| b.1.as_ptr());
        let memory: Vec<MPI_Aint> = blocks
            .iter()
            .map(|b| (b.1.as_ptr() as MPI_Aint).wrapping_sub(base as MPI_Aint))
            .collect();
        let count = c_int::try_from(blocks.len()).expect("a round holds fewer than 2^31 blocks");
        let native = c"native";
        // SAFETY: both datatypes describe `count` blocks of `lens` bytes: in the file at
        // increasing, non-overlapping offsets (sorted, distinct datasets), in memory at
        // `base` plus the displacements of live slices. They are freed before returning;
        // the view and the write are collective and every rank calls them once per round.
        unsafe {
            let mut file_type: MPI_Datatype = RSMPI_UINT8_T;
            let mut memory_type: MPI_Datatype = RSMPI_UINT8_T;
            let mut made = Ok(());
            if count > 0 {
                made = check(
                    MPI_Type_create_hindexed(
                        count,
                        lens.as_ptr(),
                        at.as_ptr(),
                        RSMPI_UINT8_T,
                        &raw mut file_type,
                    ),
                    "describe pieces (MPI-IO)",
                    self.path,
                )
                .and_then(|()| {
                    check(
                        MPI_Type_commit(&raw mut file_type),
                        "describe pieces (MPI-IO)",
                        self.path,
                    )
                })
                .and_then(|()| {
                    check(
                        MPI_Type_create_hindexed(
                            count,
                            lens.as_ptr(),
                            memory.as_ptr(),
                            RSMPI_UINT8_T,
                            &raw mut memory_type,
                        ),
                        "describe buffers (MPI-IO)",
                        self.path,
                    )
                })
                .and_then(|()| {
                    check(
                        MPI_Type_commit(&raw mut memory_type),
                        "describe buffers (MPI-IO)",
                        self.path,
                    )
                });
            }
            let (n, buf) = if count > 0 && made.is_ok() {
                (1, base)
            } else {
                (0, [0u8].as_ptr())
            };
            let (view, write_type) = if n == 0 {
                (RSMPI_UINT8_T, RSMPI_UINT8_T)
            } else {
                (file_type, memory_type)
            };
            let viewed = MPI_File_set_view(
                self.fh,
                0,
                RSMPI_UINT8_T,
                view,
                native.as_ptr(),
                RSMPI_INFO_NULL,
            );
            let written =
                MPI_File_write_at_all(self.fh, 0, buf.cast(), n, write_type, RSMPI_STATUS_IGNORE);
            for mut t in [file_type, memory_type] {
                if t != RSMPI_UINT8_T {
                    MPI_Type_free(&raw mut t);
                }
            }
            made?;
            check(viewed, "set the file view (MPI-IO)", self.path)?;
            check(written, "write (MPI-IO, collective)", self.path)
        }
    }

    /// Syncs and closes the file.
    ///
    /// # Collective
    pub(crate) fn close(mut self) -> Result<()> {
        // SAFETY: collective sync and close of the file opened by `open`, on every rank.
        let (synced, closed) =
            unsafe { (MPI_File_sync(self.fh), MPI_File_close(&raw mut self.fh)) };
        check(synced, "sync (MPI-IO)", self.path)?;
        check(closed, "close (MPI-IO)", self.path)
    }
}

/// The collective rounds `pieces` take.
pub(crate) fn rounds(pieces: &[(u64, &[u8])]) -> usize {
    let mut blocks: Vec<(u64, &[u8])> = Vec::new();
    for (offset, bytes) in pieces {
        blocks.extend(bytes.chunks(PIECE).map(|b| (*offset, b)));
    }
    batches(&blocks).len()
}

/// `blocks` cut into rounds of at most [`ROUND`] bytes.
fn batches<'b, 'a>(blocks: &'b [(u64, &'a [u8])]) -> Vec<&'b [(u64, &'a [u8])]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0usize);
    for (i, b) in blocks.iter().enumerate() {
        if i > start && bytes + b.1.len() > ROUND {
            out.push(&blocks[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += b.1.len();
    }
    if start < blocks.len() {
        out.push(&blocks[start..]);
    }
    out
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
        std::ffi::CStr::from_ptr(text.as_ptr())
            .to_string_lossy()
            .into_owned()
    };
    Err(Error::io(op, path, std::io::Error::other(message)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_cut_at_a_gib_and_keep_order() {
        let small = [0u8; 8];
        let blocks = vec![(0u64, &small[..]), (8, &small[..])];
        assert_eq!(batches(&blocks).len(), 1);
        assert!(batches(&[]).is_empty());
        assert_eq!(rounds(&[]), 0);
        assert_eq!("independent".parse::<Io>().unwrap(), Io::Independent);
        assert!("both".parse::<Io>().is_err());
    }
}
