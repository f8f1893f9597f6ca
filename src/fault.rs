//! Fault injection for the crate's own tests: where a write stops or breaks, and the hook
//! that trips there. [`Fault`] and its parsing exist only with the cargo feature
//! `test-hooks` (the tests, `tests/faults/*.py` through `simulate --fault`, and
//! `scripts/test.sh` build with it); without it a write's fault points are no-ops.

#[cfg(feature = "test-hooks")]
use std::path::Path;

#[cfg(feature = "test-hooks")]
use crate::error::{Error, Result};

/// Where a fault-injection test stops or breaks a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPoint {
    /// The faulty rank, as if its MPI-IO open of the data phase failed.
    Open,
    /// Rank 0, after laying out the segments, before closing the file.
    Layout,
    /// The faulty rank, after writing half of its data.
    Data,
    /// Rank 0, after sealing the journal and applying half of the changed pages.
    Commit,
}

/// A fault to inject: pause (so that a test can kill the job right there) or fail with an
/// I/O error, on `rank` at `point` of the write numbered `write` (0 = the first; a
/// stream counts its writes, a single write is write 0).
#[cfg(feature = "test-hooks")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    pub rank: i32,
    pub write: usize,
    pub point: FaultPoint,
    pub pause: bool,
}

#[cfg(feature = "test-hooks")]
impl std::str::FromStr for Fault {
    type Err = Error;

    /// `WRITE:POINT:RANK:ACTION`, with POINT `open`, `layout`, `data` or `commit` and
    /// ACTION `pause` or `fail` (the form of `simulate --fault`).
    fn from_str(s: &str) -> Result<Fault> {
        let bad = |why: String| Error::invalid("fault", why);
        let parts: Vec<&str> = s.split(':').collect();
        let [write, point, rank, action] = parts[..] else { return Err(bad(format!("{s:?} is not WRITE:POINT:RANK:ACTION"))) };
        let point = match point {
            "open" => FaultPoint::Open,
            "layout" => FaultPoint::Layout,
            "data" => FaultPoint::Data,
            "commit" => FaultPoint::Commit,
            other => return Err(bad(format!("{other:?} is not open, layout, data or commit"))),
        };
        let pause = match action {
            "pause" => true,
            "fail" => false,
            other => return Err(bad(format!("{other:?} is not pause or fail"))),
        };
        let write = write.parse().map_err(|e| bad(format!("write {write:?}: {e}")))?;
        let rank = rank.parse().map_err(|e| bad(format!("rank {rank:?}: {e}")))?;
        Ok(Fault { rank, write, point, pause })
    }
}

#[cfg(feature = "test-hooks")]
impl Fault {
    /// Trips the fault if it is set for this rank and point: prints `PAUSED` and waits to
    /// be killed (or, when the environment names a file in `BSB_FAULT_RESUME`, until that
    /// file exists: the full-disk tests fill the disk meanwhile), or returns an injected
    /// I/O error on `path`.
    pub(crate) fn trip(self, rank: i32, point: FaultPoint, path: &Path) -> Result<()> {
        if self.rank != rank || self.point != point {
            return Ok(());
        }
        if self.pause {
            eprintln!("PAUSED at {point:?} on rank {rank}");
            let resume = std::env::var_os("BSB_FAULT_RESUME").map(std::path::PathBuf::from);
            while !resume.as_ref().is_some_and(|r| r.exists()) {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            return Ok(());
        }
        Err(Error::io("write", path, std::io::Error::other(format!("injected fault at {point:?}"))))
    }
}

#[cfg(all(test, feature = "test-hooks"))]
mod tests {
    use super::{Fault, FaultPoint};

    #[test]
    fn the_cli_form_parses() {
        let f: Fault = "2:commit:1:pause".parse().expect("valid");
        assert_eq!(f, Fault { write: 2, point: FaultPoint::Commit, rank: 1, pause: true });
        for bad in ["2:commit:1", "x:open:0:fail", "0:nowhere:0:fail", "0:open:0:explode"] {
            assert!(bad.parse::<Fault>().is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn it_trips_only_on_its_rank_and_point() {
        let f = Fault { write: 0, point: FaultPoint::Data, rank: 1, pause: false };
        let path = std::path::Path::new("x.nio");
        assert!(f.trip(0, FaultPoint::Data, path).is_ok());
        assert!(f.trip(1, FaultPoint::Open, path).is_ok());
        let err = f.trip(1, FaultPoint::Data, path).expect_err("trips");
        assert!(err.to_string().contains("injected fault at Data"), "{err}");
    }
}
