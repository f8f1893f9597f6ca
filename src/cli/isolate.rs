//! Reading untrusted files in a child process.
//!
//! HDF5's C library can crash (or loop) on a deliberately damaged file: its global heap,
//! which holds every variable-length string, carries no checksums. A crash cannot be
//! caught inside the process, so the reading commands run their work in a child (this
//! binary again, with `--in-process`) and turn its crash or stall into a one-line error.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// The hidden flag that makes a reading command do its work in this process.
pub(crate) const IN_PROCESS: &str = "--in-process";

/// Runs this command again as a child with [`IN_PROCESS`], relays its output, and reports
/// its crash or a stall longer than `timeout` as an error about `file`.
pub(crate) fn supervise(file: &Path, timeout: Duration) -> ExitCode {
    let fail = |message: String| {
        eprintln!("error: '{}' could not be read: {message}", file.display());
        ExitCode::FAILURE
    };
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return fail(format!("cannot find this program to start a reader ({e})")),
    };
    let mut child = match Command::new(exe)
        .args(std::env::args_os().skip(1))
        .arg(IN_PROCESS)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => return fail(format!("cannot start a reader ({e})")),
    };
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return fail(format!(
                    "the HDF5 library made no end within {} s (a damaged file can make it loop; raise --timeout-s for a very large file)",
                    timeout.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => return fail(format!("lost the reader ({e})")),
        }
    };
    let (out, err) = (stdout.join().unwrap_or_default(), stderr.join().unwrap_or_default());
    match status.code() {
        Some(code) => {
            let _ = std::io::stdout().write_all(&out);
            let _ = std::io::stderr().write_all(&err);
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
        None => fail(format!("the HDF5 library crashed on damaged data ({status})")),
    }
}
