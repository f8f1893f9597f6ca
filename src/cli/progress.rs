//! Progress on rank 0: a bar on a terminal, plain lines in a batch log.

use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};

/// Reports `(done, total)` of one long phase.
pub(crate) enum Reporter {
    /// Nothing (other ranks, `--quiet`).
    Off,
    /// An indicatif bar on stderr.
    Bar(ProgressBar),
    /// A line every 10% (batch logs): the last tenth printed.
    Lines { label: String, last: Mutex<u64> },
}

impl Reporter {
    /// A reporter for `label`; a bar when stderr is a terminal.
    pub(crate) fn new(label: &str, enabled: bool) -> Reporter {
        if !enabled {
            return Reporter::Off;
        }
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(0);
            let style = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} objects ({eta})")
                .expect("valid template")
                .progress_chars("=> ");
            bar.set_style(style);
            bar.set_message(label.to_owned());
            return Reporter::Bar(bar);
        }
        Reporter::Lines { label: label.to_owned(), last: Mutex::new(u64::MAX) }
    }

    /// Reports progress.
    pub(crate) fn update(&self, done: u64, total: u64) {
        match self {
            Reporter::Off => {}
            Reporter::Bar(bar) => {
                bar.set_length(total);
                bar.set_position(done);
                if done >= total {
                    bar.finish_and_clear();
                }
            }
            Reporter::Lines { label, last } => {
                let tenth = (done * 10).checked_div(total).unwrap_or(10);
                let mut last = last.lock().expect("not poisoned");
                if *last != tenth {
                    *last = tenth;
                    eprintln!("{label}: {done}/{total} objects ({}%)", tenth * 10);
                }
            }
        }
    }
}
