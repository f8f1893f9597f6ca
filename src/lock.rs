//! File locks as HDF5 1.10 takes them: `flock`, shared to read, exclusive to write.
//!
//! Only "would block" means that another program holds the lock. A file system that
//! refuses locks altogether (Lustre mounted without `flock`, some NFS) gets a warning and
//! the write goes on, as HDF5 does with `HDF5_USE_FILE_LOCKING=BEST_EFFORT`; the variable
//! is honoured as HDF5 defines it: `FALSE` (or `0`) takes no locks at all, `TRUE` (or `1`)
//! makes a refused lock an error, `BEST_EFFORT` (and no value) warns and goes on.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};

/// What `HDF5_USE_FILE_LOCKING` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Policy {
    /// `FALSE`: no locks.
    Off,
    /// `BEST_EFFORT` or unset: lock where the file system can.
    BestEffort,
    /// `TRUE`: every lock must be taken.
    Strict,
}

impl Policy {
    /// The policy of this process's environment.
    pub(crate) fn from_env() -> Policy {
        Policy::parse(std::env::var("HDF5_USE_FILE_LOCKING").ok().as_deref())
    }

    fn parse(value: Option<&str>) -> Policy {
        match value {
            Some("FALSE" | "0") => Policy::Off,
            Some("TRUE" | "1") => Policy::Strict,
            _ => Policy::BestEffort,
        }
    }
}

/// The lock to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Shared,
    Exclusive,
}

/// What came of trying a lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Got {
    /// Held until `file` is closed.
    Held,
    /// Not taken: locking is off, or the file system refuses locks (warned).
    Unlocked,
    /// Another open file holds a conflicting lock.
    Busy,
}

/// Tries to lock `file` (at `path`) without waiting.
///
/// # Errors
/// [`Error::Io`] when the file system refuses locks and `HDF5_USE_FILE_LOCKING=TRUE`.
pub(crate) fn try_lock(file: &File, kind: Kind, path: &Path) -> Result<Got> {
    try_lock_with(file, kind, path, Policy::from_env(), &|fd, op| {
        // SAFETY: flock on an open descriptor has no memory effects.
        if unsafe { libc::flock(fd, op) } == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
    })
}

/// [`try_lock`] with the policy and the `flock` call given (tests pass one that refuses).
fn try_lock_with(file: &File, kind: Kind, path: &Path, policy: Policy, flock: &dyn Fn(i32, i32) -> std::io::Result<()>) -> Result<Got> {
    if policy == Policy::Off {
        return Ok(Got::Unlocked);
    }
    let op = libc::LOCK_NB | if kind == Kind::Shared { libc::LOCK_SH } else { libc::LOCK_EX };
    match flock(file.as_raw_fd(), op) {
        Ok(()) => Ok(Got::Held),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(Got::Busy),
        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => try_lock_with(file, kind, path, policy, flock),
        Err(e) if policy == Policy::Strict => Err(Error::io("lock (HDF5_USE_FILE_LOCKING=TRUE)", path, e)),
        Err(e) => {
            static WARNED: AtomicBool = AtomicBool::new(false);
            if !WARNED.swap(true, Ordering::SeqCst) {
                eprintln!(
                    "warning: the file system of '{}' refuses file locks ({e}); going on without them, so nothing stops two programs writing it at once (HDF5_USE_FILE_LOCKING=FALSE skips locking, TRUE makes this an error)",
                    path.display()
                );
            }
            Ok(Got::Unlocked)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusing(errno: i32) -> impl Fn(i32, i32) -> std::io::Result<()> {
        move |_, _| Err(std::io::Error::from_raw_os_error(errno))
    }

    #[test]
    fn the_environment_is_read_as_hdf5_reads_it() {
        assert_eq!(Policy::parse(Some("FALSE")), Policy::Off);
        assert_eq!(Policy::parse(Some("0")), Policy::Off);
        assert_eq!(Policy::parse(Some("TRUE")), Policy::Strict);
        assert_eq!(Policy::parse(Some("BEST_EFFORT")), Policy::BestEffort);
        assert_eq!(Policy::parse(None), Policy::BestEffort);
    }

    #[test]
    fn only_would_block_means_busy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = File::create(&path).unwrap();
        let busy = try_lock_with(&file, Kind::Shared, &path, Policy::BestEffort, &refusing(libc::EWOULDBLOCK)).unwrap();
        assert_eq!(busy, Got::Busy);
        for errno in [libc::ENOSYS, libc::ENOLCK, libc::EOPNOTSUPP, libc::EINVAL] {
            let got = try_lock_with(&file, Kind::Exclusive, &path, Policy::BestEffort, &refusing(errno)).unwrap();
            assert_eq!(got, Got::Unlocked, "errno {errno}: a file system without locks is no other writer");
            let strict = try_lock_with(&file, Kind::Exclusive, &path, Policy::Strict, &refusing(errno)).unwrap_err();
            assert!(strict.to_string().contains("HDF5_USE_FILE_LOCKING=TRUE"), "{strict}");
        }
        let off = try_lock_with(&file, Kind::Exclusive, &path, Policy::Off, &refusing(libc::EWOULDBLOCK)).unwrap();
        assert_eq!(off, Got::Unlocked, "FALSE takes no locks, so it sees no other writer");
    }

    #[test]
    fn real_locks_conflict_between_open_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let a = File::create(&path).unwrap();
        let b = File::open(&path).unwrap();
        assert_eq!(try_lock(&a, Kind::Shared, &path).unwrap(), Got::Held);
        assert_eq!(try_lock(&b, Kind::Shared, &path).unwrap(), Got::Held, "readers share");
        let c = File::open(&path).unwrap();
        assert_eq!(try_lock(&c, Kind::Exclusive, &path).unwrap(), Got::Busy);
    }
}
