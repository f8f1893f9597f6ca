//! Progress of rank 0's layout: the callback a caller gives, and the counter the layout
//! ticks.

/// Called on rank 0 while the layout is written: `(objects done, objects in total)`.
pub(crate) type Progress<'a> = &'a (dyn Fn(u64, u64) + Sync);

/// Counts laid-out objects and reports about every 1% of them.
pub(crate) struct Ticker<'a> {
    done: std::cell::Cell<u64>,
    total: u64,
    every: u64,
    progress: Option<Progress<'a>>,
}

impl<'a> Ticker<'a> {
    pub(crate) fn new(total: u64, progress: Option<Progress<'a>>) -> Self {
        Ticker { done: std::cell::Cell::new(0), total, every: (total / 100).max(1), progress }
    }

    /// One more object laid out.
    pub(crate) fn tick(&self) {
        let done = self.done.get() + 1;
        self.done.set(done);
        if let Some(p) = self.progress.filter(|_| done % self.every == 0) {
            p(done, self.total);
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(p) = self.progress {
            p(self.total, self.total);
        }
    }
}
