//! SIGTERM and SIGINT end a run at the next checkpoint: Slurm sends SIGTERM at a job's
//! time limit, and a streamed file then keeps every checkpoint committed so far.
//!
//! The handler only notes the signal (and, with `SA_RESETHAND`, gives the next one back
//! its default action, so a second Ctrl-C ends the process at once: crash safety covers
//! that). The run looks at the note between checkpoints and while it computes, and the
//! ranks agree on it, so that none is left waiting in a collective call.

use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

/// The signal received, 0 for none.
static RECEIVED: AtomicI32 = AtomicI32::new(0);

extern "C" fn note(signal: libc::c_int) {
    RECEIVED.store(signal, Ordering::SeqCst);
}

/// Installs the handler for SIGTERM and SIGINT.
pub(crate) fn install() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: a zeroed sigaction with a handler that only stores to an atomic (which
        // is async-signal-safe); SA_RESETHAND restores the default after one delivery.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = note as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESETHAND;
            libc::sigemptyset(&raw mut action.sa_mask);
            libc::sigaction(signal, &raw const action, std::ptr::null_mut());
        }
    }
}

/// The signal received so far on this rank (0 for none).
pub(crate) fn received() -> i32 {
    RECEIVED.load(Ordering::SeqCst)
}

/// The signal's name, for messages.
pub(crate) fn name(signal: i32) -> &'static str {
    match signal {
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        _ => "a signal",
    }
}

/// Sleeps for `duration`, or less when a signal arrives.
pub(crate) fn sleep(duration: Duration) {
    let end = Instant::now() + duration;
    while received() == 0 {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(20)));
    }
}
