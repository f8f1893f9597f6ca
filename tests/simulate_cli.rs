//! The main command as a user meets it: arguments that make no run this machine can do
//! are refused (exit status 2, a message naming the argument and its value, nothing
//! written; one row per bad value), and SIGTERM or SIGINT end a run promptly, keeping a
//! stream's committed checkpoints.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `(arguments, texts the error must contain)`.
const BAD: &[(&[&str], &[&str])] = &[
    (&["--resolution-ms", "0"], &["--resolution-ms", "'0'"]),
    (&["--resolution-ms", "nan"], &["--resolution-ms", "'nan'"]),
    (&["--resolution-ms", "-0.1"], &["--resolution-ms", "'-0.1'"]),
    (&["--resolution-ms", "1e-9"], &["--resolution-ms 0.000000001", "GiB of memory available"]),
    (&["--resolution-ms", "5000"], &["--resolution-ms 5000", "no time step"]),
    (&["--duration-ms", "0"], &["--duration-ms", "'0'"]),
    (&["--duration-ms", "inf"], &["--duration-ms", "'inf'"]),
    (&["--duration-ms", "-5"], &["--duration-ms", "'-5'"]),
    (&["--rate-hz", "1e12"], &["--rate-hz 1000000000000", "one spike per time step"]),
    (&["--rate-hz", "-1"], &["--rate-hz", "'-1'"]),
    (&["--rate-hz", "nan"], &["--rate-hz", "'nan'"]),
    (&["--checkpoints", "0"], &["--checkpoints", "'0'"]),
    (&["--checkpoints", "-2"], &["--checkpoints", "'-2'"]),
    (&["--checkpoints", "100000"], &["--checkpoints 100000", "time steps"]),
    (&["--cells", "-1"], &["--cells", "'-1'"]),
    (&["--cells", "100000000000"], &["--cells 100000000000", "GiB of memory available"]),
    (&["--voltage-cells", "1000000", "--cells", "1000000", "--duration-ms", "100000000"], &["--voltage-cells 1000000", "--stream"]),
];

#[test]
fn bad_arguments_exit_2_naming_the_argument_and_write_nothing() {
    let bin = env!("CARGO_BIN_EXE_bsb-results");
    for (args, needles) in BAD {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run.nio");
        let done = Command::new(bin).arg("simulate").args(*args).arg("--out").arg(&out).arg("--quiet").output().unwrap();
        let stderr = String::from_utf8_lossy(&done.stderr);
        assert_eq!(done.status.code(), Some(2), "{args:?}: {stderr}");
        for needle in *needles {
            assert!(stderr.contains(needle), "{args:?}: {needle:?} not in {stderr}");
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "{args:?} wrote something");
    }
}

#[test]
fn one_checkpoint_is_one_segment_in_the_summary_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run.nio");
    let bin = env!("CARGO_BIN_EXE_bsb-results");
    let done = Command::new(bin).args(["simulate", "--cells", "4", "--duration-ms", "10", "--checkpoints", "1", "--quiet", "--out"]).arg(&out).output().unwrap();
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&done.stdout).unwrap();
    assert_eq!((summary["checkpoints"].as_u64(), summary["segments"].as_u64()), (Some(1), Some(1)), "{summary}");
    assert!(summary["interrupted"].is_null());
}

/// Starts a run of 5 checkpoints of 800 ms "computing" each, sends `signal` once the
/// run reports `after` on stderr (or at once), and returns the exit status, the summary
/// and how long the run took to end after the signal.
fn interrupt(out: &std::path::Path, stream: bool, signal: i32, after: Option<&str>) -> (Option<i32>, serde_json::Value, Duration) {
    let bin = env!("CARGO_BIN_EXE_bsb-results");
    let mut cmd = Command::new(bin);
    cmd.args(["simulate", "--cells", "20", "--voltage-cells", "2", "--checkpoints", "5", "--compute-ms", "800", "--out"]).arg(out);
    if stream {
        cmd.arg("--stream");
    }
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    if let Some(text) = after {
        let mut line = String::new();
        while !line.contains(text) {
            line.clear();
            assert!(stderr.read_line(&mut line).unwrap() > 0, "the run ended before {text:?}");
        }
    } else {
        std::thread::sleep(Duration::from_millis(300));
    }
    let sent = Instant::now();
    // SAFETY: a plain kill(2) of our own child.
    unsafe { libc::kill(i32::try_from(child.id()).unwrap(), signal) };
    let done = child.wait_with_output().unwrap();
    let summary = serde_json::from_slice(&done.stdout).unwrap_or(serde_json::Value::Null);
    (done.status.code(), summary, sent.elapsed())
}

#[test]
fn sigterm_ends_a_stream_promptly_keeping_its_committed_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run.nio");
    let (code, summary, took) = interrupt(&out, true, libc::SIGTERM, Some("checkpoint 1 written"));
    assert_eq!(code, Some(128 + libc::SIGTERM), "{summary}");
    assert!(took < Duration::from_secs(2), "ended {took:?} after the signal");
    assert_eq!(summary["interrupted"], "SIGTERM", "{summary}");
    assert_eq!(summary["checkpoints_written"], 2, "{summary}");
    let block = bsb_results::read_nio(&out).unwrap();
    let indices: Vec<_> = block.segments.iter().map(|s| s.annotations.get("checkpoint_index").cloned()).collect();
    assert_eq!(indices.len(), 2, "{indices:?}");
    assert!(!bsb_results::journal::journal_path(&out).exists());
}

#[test]
fn sigint_before_the_write_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run.nio");
    let (code, summary, took) = interrupt(&out, false, libc::SIGINT, None);
    assert_eq!(code, Some(128 + libc::SIGINT), "{summary}");
    assert!(took < Duration::from_secs(2), "ended {took:?} after the signal");
    assert_eq!((summary["interrupted"].as_str(), summary["checkpoints_written"].as_u64()), (Some("SIGINT"), Some(0)), "{summary}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing written");
}
