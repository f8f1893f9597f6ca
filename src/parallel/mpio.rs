//! The data phase over MPI-IO: every rank writes its samples and spike times at the file
//! offsets rank 0 allocated for them. The one unsafe module for MPI's C interface.
//!
//! The datasets are contiguous and allocated in advance, so their bytes are plain
//! little-endian arrays at known offsets: nothing about the file's structure changes.
//! Collectively, each run of a rank's pieces that follow each other in the file (rank 0
//! lays a rank's datasets out as one) becomes one `MPI_File_write_at_all` per round of
//! at most half the collective buffer, straight from the rank's buffers (an `hindexed`
//! memory type names them; only small parts are staged), so MPI's collective buffering
//! (and its hints) act and MPI-IO writes large pieces; independently, each piece is one
//! `MPI_File_write_at`.

use std::ffi::{c_char, c_int};
use std::path::Path;
use std::time::{Duration, Instant};

use mpi::ffi::{
    MPI_Error_string, MPI_File, MPI_File_close, MPI_File_get_info,
    MPI_File_open, MPI_File_set_errhandler, MPI_File_sync, MPI_File_write_at,
    MPI_File_write_at_all, MPI_Get_library_version, MPI_Info, MPI_Info_create, MPI_Info_free,
    MPI_Info_get, MPI_Info_get_nkeys, MPI_Info_get_nthkey, MPI_Info_set, MPI_MAX_ERROR_STRING,
    MPI_MAX_INFO_KEY, MPI_MAX_INFO_VAL, MPI_MAX_LIBRARY_VERSION_STRING, MPI_MODE_WRONLY,
    MPI_Aint, MPI_Datatype, MPI_Offset, MPI_SUCCESS, MPI_Type_commit, MPI_Type_create_hindexed,
    MPI_Type_free, RSMPI_ERRORS_RETURN, RSMPI_FILE_NULL, RSMPI_INFO_NULL, RSMPI_STATUS_IGNORE, RSMPI_UINT8_T,
};

use super::comm::Comm;
use super::hints::{Layer, Limits};
use crate::error::{Error, Result};
use crate::h5::Nums;

#[cfg(target_endian = "big")]
compile_error!("the MPI-IO data phase writes native bytes into little-endian datasets");

/// The largest block one write or one datatype block holds (counts are `int`s).
const PIECE: usize = 1 << 30;

/// A part of a collective write smaller than this is copied into the round's staging
/// buffer (MPI-IO would write a block of memory this small with a call of its own).
const SMALL: usize = 64 << 10;

/// How the ranks write their data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Io {
    /// Collective `MPI_File_write_at_all` calls of at most half the collective buffer
    /// (`cb_buffer_size`, 4 MiB by default) over each run of the rank's datasets that
    /// follow each other in the file, from the rank's buffers: MPI's collective buffering
    /// and hints act.
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
    /// An info object holding `hints` (`MPI_INFO_NULL` when there are none) for opening
    /// `path`, which its errors name. The hints must have passed
    /// [`super::hints::validate`]: MPI aborts on a key it cannot hold.
    pub(crate) fn new(hints: &[(String, String)], path: &Path) -> Result<Info> {
        // SAFETY: RSMPI_INFO_NULL is a valid handle constant.
        let mut info = Info(unsafe { RSMPI_INFO_NULL });
        if hints.is_empty() {
            return Ok(info);
        }
        // SAFETY: creates an info object and sets NUL-terminated keys and values, whose
        // lengths were checked against MPI's limits.
        unsafe {
            check(MPI_Info_create(&raw mut info.0), "create the MPI-IO hints (MPI_Info) to open", path)?;
            for (key, value) in hints {
                let (k, v) = (crate::h5::cstr(key), crate::h5::cstr(value));
                check(MPI_Info_set(info.0, k.as_ptr(), v.as_ptr()), "set an MPI-IO hint to open", path)?;
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
    let info = Info::new(hints, path);
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
            int(MPI_MODE_WRONLY),
            raw,
            &raw mut fh,
        )
    };
    let outcome = info
        .map(drop)
        .and(check(opened, "open (MPI-IO) for writing", path));
    if opened != int(MPI_SUCCESS) {
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
            if MPI_File_get_info(self.fh, &raw mut info) != int(MPI_SUCCESS) {
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
                    int(MPI_MAX_INFO_VAL),
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
    /// collective calls, one per [`Chunk`]: a range of the file the pieces fill without a
    /// gap (rank 0 lays a rank's datasets out as one such run), at most `round` bytes,
    /// written from where the pieces lie in memory, so that MPI-IO writes it in one piece
    /// without a copy of the rank's data. A rank whose pieces take fewer rounds, or that
    /// failed, still takes part with nothing. `halfway` runs before the middle round.
    /// Returns the time spent in the write calls.
    ///
    /// # Collective
    /// `MPI_File_write_at_all` `rounds` times on every rank; `rounds` must be the same
    /// everywhere (at least [`rounds`] of every rank's pieces, with the same `round`).
    pub(crate) fn write_collective(&self, pieces: &[(u64, &[u8])], round: usize, rounds: usize, halfway: &dyn Fn() -> Result<()>) -> Result<Duration> {
        let mut chunks = chunks(pieces, round).into_iter();
        let mut staging = Vec::new();
        let mut writing = Duration::ZERO;
        let mut outcome = Ok(());
        for round in 0..rounds {
            if round == rounds / 2 && outcome.is_ok() {
                outcome = halfway();
            }
            let chunk = if outcome.is_ok() { chunks.next() } else { None };
            let start = Instant::now();
            let written = match chunk {
                Some(chunk) => Memory::of(&chunk.parts, &mut staging, self.path).and_then(|memory| self.write_all_at(chunk.at, &memory)),
                None => self.write_all_at(0, &Memory::nothing()),
            };
            writing += start.elapsed();
            if outcome.is_ok() {
                outcome = written;
            }
        }
        outcome.map(|()| writing)
    }

    /// One collective write of `memory` at `at`; nothing: the rank takes part with no
    /// bytes.
    fn write_all_at(&self, at: u64, memory: &Memory<'_>) -> Result<()> {
        let at = MPI_Offset::try_from(at).unwrap_or(MPI_Offset::MAX);
        // SAFETY: an open file; `memory` names readable bytes that live as long as it does
        // (or none). Every rank calls this once per round.
        let rc = unsafe { MPI_File_write_at_all(self.fh, at, memory.base.cast(), memory.count, memory.datatype, RSMPI_STATUS_IGNORE) };
        check(rc, "write (MPI-IO, collective)", self.path)
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

/// A range of the file that pieces fill without a gap: its start and the slices, in order.
#[derive(Debug)]
struct Chunk<'a> {
    at: u64,
    parts: Vec<&'a [u8]>,
}

/// Where one collective write's bytes lie in memory: one slice as bytes, several as an
/// `hindexed` datatype over them (displacements from the first), freed on drop.
struct Memory<'a> {
    base: *const u8,
    count: c_int,
    datatype: MPI_Datatype,
    derived: bool,
    _parts: std::marker::PhantomData<&'a [u8]>,
}

impl<'a> Memory<'a> {
    /// No bytes.
    fn nothing() -> Memory<'static> {
        Memory::bytes(&[])
    }

    /// One slice, as bytes (an empty one's pointer is dangling but aligned, and MPI does
    /// not read it).
    fn bytes(bytes: &'a [u8]) -> Memory<'a> {
        let count = c_int::try_from(bytes.len()).expect("a round is at most 1 GiB");
        // SAFETY: a predefined datatype handle.
        let datatype = unsafe { RSMPI_UINT8_T };
        Memory { base: bytes.as_ptr(), count, datatype, derived: false, _parts: std::marker::PhantomData }
    }

    /// The bytes of `parts`, in order, as one write's memory (each part at most [`PIECE`]):
    /// runs of parts under [`SMALL`] bytes are copied into `staging` (at most a round's
    /// bytes), so that MPI-IO sees a few large blocks rather than one per spike train;
    /// larger parts are written from where they lie.
    /// An error names `path`, the file being written.
    fn of(parts: &[&'a [u8]], staging: &'a mut Vec<u8>, path: &Path) -> Result<Memory<'a>> {
        enum Block<'a> {
            Staged(std::ops::Range<usize>),
            Direct(&'a [u8]),
        }
        staging.clear();
        let mut blocks: Vec<Block<'a>> = Vec::new();
        for part in parts {
            if part.len() >= SMALL {
                blocks.push(Block::Direct(part));
                continue;
            }
            let at = staging.len();
            staging.extend_from_slice(part);
            match blocks.last_mut() {
                Some(Block::Staged(run)) if run.end == at => run.end = staging.len(),
                _ => blocks.push(Block::Staged(at..staging.len())),
            }
        }
        let staging: &'a [u8] = staging;
        let slices: Vec<&'a [u8]> = blocks
            .into_iter()
            .map(|b| match b {
                Block::Staged(run) => &staging[run],
                Block::Direct(part) => part,
            })
            .collect();
        if let [one] = slices[..] {
            return Ok(Memory::bytes(one));
        }
        let base = slices[0].as_ptr();
        let lengths: Vec<c_int> = slices.iter().map(|p| c_int::try_from(p.len()).expect("a part is at most 1 GiB")).collect();
        // Displacements are byte distances from the first block, as MPI_Aint_diff computes them.
        let displacements: Vec<MPI_Aint> = slices.iter().map(|p| (p.as_ptr() as MPI_Aint).wrapping_sub(base as MPI_Aint)).collect();
        let count = c_int::try_from(slices.len()).expect("a round has fewer blocks than an int holds");
        // SAFETY: a predefined datatype handle, overwritten by MPI below.
        let mut datatype: MPI_Datatype = unsafe { RSMPI_UINT8_T };
        // SAFETY: `count` lengths and displacements, a predefined element type; the new
        // type is committed before use and freed on drop.
        let rc = unsafe {
            let rc = MPI_Type_create_hindexed(count, lengths.as_ptr(), displacements.as_ptr(), RSMPI_UINT8_T, &raw mut datatype);
            if rc == int(MPI_SUCCESS) { MPI_Type_commit(&raw mut datatype) } else { rc }
        };
        check(rc, "describe the data in memory (MPI datatype) for a collective write", path)?;
        Ok(Memory { base, count: 1, datatype, derived: true, _parts: std::marker::PhantomData })
    }
}

impl Drop for Memory<'_> {
    fn drop(&mut self) {
        if self.derived {
            // SAFETY: a datatype this value created and committed.
            unsafe { MPI_Type_free(&raw mut self.datatype) };
        }
    }
}

/// The collective rounds `pieces` take.
pub(crate) fn rounds(pieces: &[(u64, &[u8])], round: usize) -> usize {
    chunks(pieces, round).len()
}

/// `pieces` sorted by offset and cut into [`Chunk`]s of at most `round` bytes (at most
/// [`PIECE`]).
fn chunks<'a>(pieces: &[(u64, &'a [u8])], round: usize) -> Vec<Chunk<'a>> {
    let round = round.clamp(1, PIECE);
    let mut sorted: Vec<(u64, &[u8])> = pieces.iter().filter(|p| !p.1.is_empty()).copied().collect();
    sorted.sort_unstable_by_key(|p| p.0);
    let mut out: Vec<Chunk<'a>> = Vec::new();
    let mut end = 0u64;
    let mut bytes = 0usize;
    for (offset, piece) in sorted {
        let mut at = offset;
        let mut rest = piece;
        while !rest.is_empty() {
            let room = match out.last() {
                Some(_) if at == end && bytes < round => round - bytes,
                _ => {
                    out.push(Chunk { at, parts: Vec::new() });
                    bytes = 0;
                    round
                }
            };
            let (part, tail) = rest.split_at(rest.len().min(room));
            out.last_mut().expect("a chunk was pushed").parts.push(part);
            bytes += part.len();
            at += part.len() as u64;
            end = at;
            rest = tail;
        }
    }
    out
}

/// An MPI constant as the C interface's `int` (they are small).
fn int(constant: u32) -> c_int {
    c_int::try_from(constant).expect("MPI constants fit an int")
}

/// Turns an MPI return code into an error naming `op` and `path`.
fn check(rc: c_int, op: &'static str, path: &Path) -> Result<()> {
    if rc == int(MPI_SUCCESS) {
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
    fn chunks_follow_the_file() {
        let small = [0u8; 8];
        let pieces = [(16u64, &small[..]), (0, &small[..]), (8, &small[..]), (40, &small[..]), (99, &[][..])];
        let runs = chunks(&pieces, 1 << 20);
        assert_eq!(runs.len(), 2, "0..24 and 40..48: {runs:?}");
        assert_eq!((runs[0].at, runs[0].parts.len(), runs[1].at), (0, 3, 40));
        assert_eq!(rounds(&[], 1 << 20), 0);
        // a round holds at most `round` bytes: a piece is split where a round fills up
        let big = vec![0u8; 5000];
        let split = chunks(&[(0, &big[..]), (5000, &small[..])], 4096);
        let sizes: Vec<(u64, Vec<usize>)> = split.iter().map(|c| (c.at, c.parts.iter().map(|p| p.len()).collect())).collect();
        assert_eq!(sizes, [(0, vec![4096]), (4096, vec![904, 8])]);
        assert_eq!("independent".parse::<Io>().unwrap(), Io::Independent);
        assert!("both".parse::<Io>().is_err());
    }
}
