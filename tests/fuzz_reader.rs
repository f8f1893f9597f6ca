//! The reader treats every file as hostile: a property test over mutated copies of the
//! corpus in `tests/fixtures/corpus` (files of this crate and of Neo). Each mutated file
//! is read by `bsb-results dump` and `inspect --json`, as a user would run them. The
//! property: exit 0, or exit 1 with a one-line error naming the file; never a signal,
//! never a hang. (HDF5's C library does crash and loop on some of these files; the
//! commands read in a child process and report that as an error.)
//!
//! Budget: `PROPTEST_CASES` (default 64 here; CI keeps it short).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use proptest::prelude::*;

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

/// One damage done to a file.
#[derive(Debug, Clone)]
enum Mutation {
    /// Overwrites one byte at a (relative) position.
    Byte(f64, u8),
    /// Overwrites 8 bytes with all ones: a huge size or address.
    Huge(f64),
    /// Cuts the file at a relative length.
    Truncate(f64),
    /// Copies 64 bytes from one place to another.
    Copy(f64, f64),
}

/// Positions favour the first 8 KiB, where the superblock and the root's metadata live.
fn position() -> impl Strategy<Value = f64> {
    prop_oneof![0.0..1.0f64, (0.0..8192.0f64).prop_map(|b| -b)]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (position(), any::<u8>()).prop_map(|(p, b)| Mutation::Byte(p, b)),
        2 => position().prop_map(Mutation::Huge),
        1 => (0.05..1.0f64).prop_map(Mutation::Truncate),
        2 => (position(), position()).prop_map(|(a, b)| Mutation::Copy(a, b)),
    ]
}

/// A relative position (or, negative, an absolute one in the first 8 KiB) in `len` bytes.
fn at(p: f64, len: usize) -> usize {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let i = if p < 0.0 { (-p) as usize } else { (p * len as f64) as usize };
    i.min(len.saturating_sub(1))
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len();
        if len < 16 {
            break;
        }
        match *m {
            Mutation::Byte(p, b) => bytes[at(p, len)] = b,
            Mutation::Huge(p) => {
                let i = at(p, len).min(len - 8);
                bytes[i..i + 8].fill(0xff);
            }
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
            Mutation::Truncate(f) => bytes.truncate(((len as f64) * f) as usize),
            Mutation::Copy(a, b) => {
                let (from, to) = (at(a, len).min(len - 64), at(b, len).min(len - 64));
                let chunk = bytes[from..from + 64].to_vec();
                bytes[to..to + 64].copy_from_slice(&chunk);
            }
        }
    }
    bytes
}

/// Runs the binary on `path`; checks the property and returns the outcome for reporting.
fn read_with_binary(path: &Path, args: &[&str]) -> Result<bool, String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bsb-results"))
        .args(args)
        .arg(path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .env("RUST_BACKTRACE", "0")
        .spawn()
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            return Err(format!("{args:?} hung on {}", path.display()));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap_or_default();
    match status.code() {
        Some(0) => Ok(true),
        Some(1) if stderr.lines().count() == 1 && stderr.starts_with("error: ") && stderr.contains(&path.display().to_string()) => Ok(false),
        Some(code) => Err(format!("{args:?} exited {code} on {}: {stderr}", path.display())),
        None => Err(format!("{args:?} was killed by a signal on {} ({status:?}): {stderr}", path.display())),
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(64),
        failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::WithSource("regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_files_never_crash_the_reader(
        which in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let files = corpus();
        let source = which.get(&files);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mutated.nio");
        std::fs::write(&path, mutate(std::fs::read(source).unwrap(), &mutations)).unwrap();
        for args in [&["dump", "--all", "--timeout-s", "10"][..], &["inspect", "--json", "--timeout-s", "10"][..]] {
            let outcome = read_with_binary(&path, args);
            if let Err(e) = &outcome {
                let keep = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-failure.nio");
                let _ = std::fs::copy(&path, &keep);
                prop_assert!(false, "{} (from {}; copy kept at {})", e, source.display(), keep.display());
            }
        }
    }
}
