//! Every bad input, table-driven: each gives its named error, and a job that meets it
//! leaves no file, or the old file unchanged. (`harness = false`: MPI initializes once.)

use std::path::Path;

use bsb_results::model::{AnalogSignal, MAX_ELEMENTS, SpikeTrain, text};
use bsb_results::{CellTarget, Device, ErrorKind, FileMode, FlushContext, Meta, RunInfo, SimulationResult, multiplex};
use mpi::topology::SimpleCommunicator;

type Build = fn(&FlushContext<'_>) -> bsb_results::Result<()>;

/// Bad objects, values, keys and names, as a recorder would meet them.
const OBJECTS: &[(&str, &str, Build)] = &[
    ("empty annotation key", "cannot be empty", |_| SpikeTrain::builder(vec![], 1.0).annotate("", 1i64).build().map(drop)),
    ("'/' in a key", "contains '/'", |_| SpikeTrain::builder(vec![], 1.0).annotate("a/b", 1i64).build().map(drop)),
    ("key nix_name", "reserved", |_| SpikeTrain::builder(vec![], 1.0).annotate("nix_name", "x").build().map(drop)),
    ("key neo_name", "reserved", |_| SpikeTrain::builder(vec![], 1.0).annotate("neo_name", "x").build().map(drop)),
    ("key units", "reserved", |_| SpikeTrain::builder(vec![], 1.0).annotate("units", "ms").build().map(drop)),
    ("key t_start", "reserved", |_| AnalogSignal::builder(vec![1.0], "mV", 0.1).annotate("t_start", 0.0).build().map(drop)),
    ("key sampling_rate", "reserved", |_| AnalogSignal::builder(vec![1.0], "mV", 0.1).annotate("sampling_rate", 1.0).build().map(drop)),
    ("non-UTF-8 key", "not UTF-8", |_| text(b"bsb_\xff\xfe", "annotation key").map(drop)),
    ("NUL in a value", "NUL byte", |_| SpikeTrain::builder(vec![], 1.0).annotate("bsb_x", "a\0b").build().map(drop)),
    ("NUL in a name", "NUL byte", |_| SpikeTrain::builder(vec![], 1.0).name("a\0b").build().map(drop)),
    ("NaN spike", "non-finite", |_| SpikeTrain::builder(vec![f64::NAN], 1.0).build().map(drop)),
    ("infinite spike", "non-finite", |_| SpikeTrain::builder(vec![f64::INFINITY], 1.0).build().map(drop)),
    ("-infinite spike", "non-finite", |_| SpikeTrain::builder(vec![f64::NEG_INFINITY], 1.0).build().map(drop)),
    ("spike after t_stop", "outside", |_| SpikeTrain::builder(vec![2.0], 1.0).build().map(drop)),
    ("spike before t_start", "outside", |_| SpikeTrain::builder(vec![0.5], 2.0).t_start(1.0).build().map(drop)),
    ("t_stop < t_start", "before t_start", |_| SpikeTrain::builder(vec![], 1.0).t_start(2.0).build().map(drop)),
    ("zero sampling period", "sampling period", |_| AnalogSignal::builder(vec![1.0], "mV", 0.0).build().map(drop)),
    ("negative sampling period", "sampling period", |_| AnalogSignal::builder(vec![1.0], "mV", -0.1).build().map(drop)),
    ("ragged channels", "ragged", |_| AnalogSignal::from_channels(vec![vec![1.0], vec![1.0, 2.0]], "mV", 0.1).build().map(drop)),
    ("ragged rows", "ragged", |_| AnalogSignal::from_rows(&[vec![1.0, 2.0], vec![1.0]], "mV", 0.1).build().map(drop)),
    ("NaN sample", "not finite", |_| AnalogSignal::builder(vec![1.0, f64::NAN], "mV", 0.1).build().map(drop)),
    ("empty units", "units cannot be empty", |_| AnalogSignal::builder(vec![1.0], "", 0.1).build().map(drop)),
    ("more samples than a dataset holds", "more than one dataset can hold", |_| {
        AnalogSignal::zeros(MAX_ELEMENTS + 1, 1, "mV", 0.1).map(drop)
    }),
    ("larger than memory", "memory is available", |_| AnalogSignal::zeros(1 << 30, 1 << 20, "mV", 0.1).map(drop)),
    ("array annotation of the wrong length", "one list entry per spike", |_| {
        SpikeTrain::builder(vec![1.0], 2.0).array_annotate("bsb_target_index", vec![0i64, 1]).build().map(drop)
    }),
    ("multiplexed targets of two kinds", "must share one", |ctx| {
        let a = multiplex::cell_target(&CellTarget::new("a", 0, "m"), bsb_results::Direction::Record);
        let b = multiplex::cell_target(&CellTarget::new("a", 1, "m").kind("synapse"), bsb_results::Direction::Record);
        let _ = ctx;
        multiplex::multiplex_targets(&[a, b]).map(drop)
    }),
];

fn result(world: &SimpleCommunicator, name: &str) -> bsb_results::Result<SimulationResult> {
    SimulationResult::new(world, name, serde_json::json!({}), RunInfo { duration_ms: Some(10.0), ..RunInfo::default() })
}

/// A job whose recorder meets `build`: the recorder's error is warned about and nothing of
/// it is buffered; the application sees the failure and does not write.
fn job(world: &SimpleCommunicator, path: &Path, build: Build) -> Result<(), String> {
    let mut r = result(world, "hostile").map_err(|e| e.to_string())?;
    r.create_recorder(Device::new("rec", "spike_recorder"), Meta::new(), move |ctx| build(ctx).map_err(Into::into))
        .map_err(|e| e.to_string())?;
    let report = r.flush().map_err(|e| e.to_string())?;
    if let Some(f) = report.failures.first() {
        if report.spiketrains + report.analogsignals != 0 {
            return Err("a bad object was buffered".into());
        }
        return Err(format!("rank {}, device '{}': {}", f.rank, f.device, f.error));
    }
    r.write(path, FileMode::Overwrite).map(drop).map_err(|e| e.to_string())
}

fn main() {
    let universe = mpi::initialize().expect("MPI initializes");
    let world = universe.world();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut failed = Vec::new();
    let old = dir.path().join("old.nio");
    std::fs::write(&old, b"previous results").unwrap();

    for (name, fragment, build) in OBJECTS {
        let direct = {
            let mut r = result(&world, "direct").unwrap();
            let outcome = std::sync::Arc::new(std::sync::Mutex::new(None));
            let seen = outcome.clone();
            r.create_recorder(Device::new("d", "k"), Meta::new(), move |ctx| {
                *seen.lock().unwrap() = Some(build(ctx).map_err(|e| (e.kind(), e.to_string())));
                Ok(())
            })
            .unwrap();
            drop(r.flush().unwrap());
            outcome.lock().unwrap().take().expect("the recorder ran")
        };
        let fresh = dir.path().join(format!("{}.nio", name.replace(['/', ' ', '\''], "_")));
        let ok = match (&direct, job(&world, &fresh, *build), job(&world, &old, *build)) {
            (Err((ErrorKind::Validation, message)), Err(in_job), Err(_)) => {
                message.contains(fragment) && in_job.contains(fragment) && in_job.contains("device 'rec'") && !fresh.exists()
            }
            _ => false,
        };
        report(&mut failed, name, ok, &format!("{direct:?}"));
    }
    let unchanged = std::fs::read(&old).unwrap() == b"previous results";
    report(&mut failed, "old file unchanged by every failed job", unchanged, "");

    run_level(&world, dir.path(), &mut failed);
    drop(world);
    drop(universe);
    if !failed.is_empty() {
        eprintln!("hostile input: {} cases failed: {failed:?}", failed.len());
        std::process::exit(1);
    }
    println!("hostile input: all cases gave their errors");
}

/// Bad names, times, paths and files at the level of the run and the write.
fn run_level(world: &SimpleCommunicator, dir: &Path, failed: &mut Vec<String>) {
    let err = |r: bsb_results::Result<()>| r.err().map(|e| (e.kind(), e.to_string()));
    let check = |failed: &mut Vec<String>, name: &str, got: Option<(ErrorKind, String)>, kind: ErrorKind, fragment: &str| {
        let ok = got.as_ref().is_some_and(|(k, m)| *k == kind && m.contains(fragment));
        report(failed, name, ok, &format!("{got:?}"));
    };
    check(failed, "empty run name", err(result(world, " ").map(drop)), ErrorKind::Validation, "needs a name");
    check(failed, "NUL in the run name", err(result(world, "a\0").map(drop)), ErrorKind::Validation, "NUL");
    let mut r = result(world, "run").unwrap();
    let empty = Device::new("", "spike_recorder");
    check(failed, "empty device name", err(r.create_recorder(empty, Meta::new(), |_| Ok(())).map(drop)), ErrorKind::Validation, "cannot be empty");
    check(failed, "NaN checkpoint time", err(r.flush_until(f64::NAN, &serde_json::json!({})).map(drop)), ErrorKind::Validation, "finite");
    r.flush_until(5.0, &serde_json::json!({})).unwrap();
    check(failed, "checkpoint before the last", err(r.flush_until(4.0, &serde_json::json!({})).map(drop)), ErrorKind::Validation, "before");
    check(failed, "unknown file mode", err("xx".parse::<FileMode>().map(drop)), ErrorKind::Validation, "not one of");

    let missing = dir.join("no/such/dir/run.nio");
    check(failed, "missing directory", err(r.write(&missing, FileMode::Overwrite).map(drop)), ErrorKind::Io, "does not exist");
    check(failed, "path is a directory", err(r.write(dir, FileMode::Overwrite).map(drop)), ErrorKind::Io, "is a directory");
    let text_file = dir.join("notes.nio");
    std::fs::write(&text_file, b"not a NIX file").unwrap();
    check(failed, "rw onto a file that is not NIX", err(r.write(&text_file, FileMode::Append).map(drop)), ErrorKind::Format, "not a readable NIX file");
    report(failed, "non-NIX file unchanged", std::fs::read(&text_file).unwrap() == b"not a NIX file", "");
    let nix = dir.join("locked.nio");
    r.write(&nix, FileMode::Overwrite).unwrap();
    let before = std::fs::read(&nix).unwrap();
    let holder = std::fs::OpenOptions::new().write(true).open(&nix).unwrap();
    // SAFETY: flock on an open descriptor: an exclusive lock, as HDF5 takes to write.
    assert_eq!(unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&holder), libc::LOCK_EX) }, 0);
    check(failed, "rw onto a file another program writes", err(r.write(&nix, FileMode::Append).map(drop)), ErrorKind::Usage, "open for writing in another program");
    check(failed, "ow over a file another program writes", err(r.write(&nix, FileMode::Overwrite).map(drop)), ErrorKind::Usage, "open for writing in another program");
    drop(holder);
    report(failed, "locked file unchanged", std::fs::read(&nix).unwrap() == before, "");
    let partials = std::fs::read_dir(dir).unwrap().filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".partial")).count();
    report(failed, "no temporary file left behind", partials == 0, &format!("{partials} left"));
}

fn report(failed: &mut Vec<String>, name: &str, ok: bool, detail: &str) {
    println!("case {name} ... {}", if ok { "ok" } else { "FAILED" });
    if !ok {
        eprintln!("  {name}: {detail}");
        failed.push(name.to_owned());
    }
}
