//! How a write goes: the one options type of [`SimulationResult::write_with`],
//! [`SimulationResult::stream_with`] and [`BlockWriter`], built with
//! [`WriteOptions::builder`]. It sits below the modules that use it (the writer, the
//! stream, the result), so that none of them reaches into another for its options.
//!
//! [`SimulationResult::write_with`]: crate::SimulationResult::write_with
//! [`SimulationResult::stream_with`]: crate::SimulationResult::stream_with
//! [`BlockWriter`]: crate::BlockWriter

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::error::Result;
#[cfg(feature = "test-hooks")]
use crate::fault::Fault;
use crate::fault::FaultPoint;
use crate::parallel::mpio::Io;
use crate::progress::Progress;

/// The default of [`WriteOptions::align`]: 1 MiB.
pub const DEFAULT_ALIGN: u64 = 1 << 20;

/// How to write: property sharing, the ranks' I/O mode, the alignment of their data,
/// MPI-IO hints and a progress callback. The default is what
/// [`SimulationResult::write`](crate::SimulationResult::write) uses.
///
/// ```
/// use bsb_results::{Io, WriteOptions};
/// let options = WriteOptions::builder()
///     .share_properties(false)
///     .io(Io::Independent)
///     .align(4 << 20)
///     .mpio_hint("cb_nodes", "2")
///     .build();
/// assert_eq!(options.align(), 4 << 20);
/// assert_eq!(options.mpio_hints(), [("cb_nodes".to_owned(), "2".to_owned())]);
/// ```
///
/// Building does not fail: the MPI-IO hints are checked when a write starts, against
/// the MPI-IO layer in use, and a bad one fails that write on every rank, naming it.
#[derive(Clone)]
pub struct WriteOptions {
    share_properties: bool,
    mpio_hints: Vec<(String, String)>,
    io: Io,
    align: u64,
    progress: Option<Arc<dyn Fn(u64, u64) + Send + Sync>>,
    #[cfg(feature = "test-hooks")]
    fault: Option<Fault>,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            share_properties: true,
            mpio_hints: Vec::new(),
            io: Io::Collective,
            align: DEFAULT_ALIGN,
            progress: None,
            #[cfg(feature = "test-hooks")]
            fault: None,
        }
    }
}

impl fmt::Debug for WriteOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("WriteOptions");
        d.field("share_properties", &self.share_properties)
            .field("mpio_hints", &self.mpio_hints)
            .field("io", &self.io)
            .field("align", &self.align)
            .field("progress", &self.progress.as_ref().map(|_| "Fn(done, total)"));
        #[cfg(feature = "test-hooks")]
        d.field("fault", &self.fault);
        d.finish()
    }
}

impl WriteOptions {
    /// A builder, starting from the defaults.
    pub fn builder() -> WriteOptionsBuilder {
        WriteOptionsBuilder { options: WriteOptions::default() }
    }

    /// A builder starting from these options.
    pub fn to_builder(&self) -> WriteOptionsBuilder {
        WriteOptionsBuilder { options: self.clone() }
    }

    /// Whether each repeated property is stored once and hard-linked (default `true`);
    /// see [`WriteOptionsBuilder::share_properties`].
    pub fn share_properties(&self) -> bool {
        self.share_properties
    }

    /// The MPI-IO hints of the data phase, as `(key, value)`.
    pub fn mpio_hints(&self) -> &[(String, String)] {
        &self.mpio_hints
    }

    /// How the ranks write their data (default [`Io::Collective`]).
    pub fn io(&self) -> Io {
        self.io
    }

    /// The boundary each rank's data starts on, in bytes (default [`DEFAULT_ALIGN`]).
    pub fn align(&self) -> u64 {
        self.align
    }

    /// The progress callback, if any, for the layout's ticker.
    pub(crate) fn progress(&self) -> Option<Progress<'_>> {
        self.progress.as_deref().map(|p| p as Progress<'_>)
    }

    /// These options for the write numbered `write` of a stream (0 = the first): a fault
    /// is injected only in the write it names.
    pub(crate) fn for_write(&self, write: usize) -> WriteOptions {
        let options = self.clone();
        #[cfg(feature = "test-hooks")]
        let options = WriteOptions { fault: options.fault.filter(|f| f.write == write), ..options };
        #[cfg(not(feature = "test-hooks"))]
        let _ = write;
        options
    }

    /// A fault-injection point of a write on `rank`: with the feature `test-hooks` and a
    /// fault set for this rank and point, pauses there or fails with an I/O error on
    /// `path`; otherwise does nothing.
    pub(crate) fn trip(&self, rank: i32, point: FaultPoint, path: &Path) -> Result<()> {
        #[cfg(feature = "test-hooks")]
        if let Some(fault) = self.fault {
            return fault.trip(rank, point, path);
        }
        #[cfg(not(feature = "test-hooks"))]
        let _ = (rank, point, path);
        Ok(())
    }
}

/// Builds [`WriteOptions`]: `WriteOptions::builder().io(Io::Independent).build()`.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct WriteOptionsBuilder {
    options: WriteOptions,
}

impl WriteOptionsBuilder {
    /// Store each repeated property (and identical time axes) once and hard-link it into
    /// every object that carries it (the default). Neo reads the file the same; it is
    /// smaller and much faster to write. `false` writes a copy per object, as Neo does.
    pub fn share_properties(mut self, share: bool) -> Self {
        self.options.share_properties = share;
        self
    }

    /// Adds an MPI-IO hint for the ranks' data phase, passed to `MPI_File_open`. It must be
    /// a key the MPI-IO layer in use reads (ROMIO: `cb_buffer_size`, `cb_nodes`,
    /// `romio_cb_write`, `striping_factor`, ...; Open MPI's OMPIO: `cb_buffer_size`,
    /// `cb_nodes`, `collective_buffering`, `stripe_size`, `stripe_width`) with a value of
    /// its kind; anything else fails the write before any MPI call, naming the hint. A
    /// collective write without `cb_buffer_size` gets 4 MiB (an aggregator's buffer), and
    /// a rank hands each collective call at most half of it.
    pub fn mpio_hint(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.options.mpio_hints.push((key.into(), value.into()));
        self
    }

    /// Adds several MPI-IO hints, as [`mpio_hint`](WriteOptionsBuilder::mpio_hint).
    pub fn mpio_hints<K: Into<String>, V: Into<String>>(mut self, hints: impl IntoIterator<Item = (K, V)>) -> Self {
        self.options.mpio_hints.extend(hints.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// How the ranks write their data: one collective call per rank and checkpoint
    /// ([`Io::Collective`], the default), or one independent call per dataset.
    pub fn io(mut self, io: Io) -> Self {
        self.options.io = io;
        self
    }

    /// Each rank's values of a write are one extent starting on a multiple of `align`
    /// bytes, and padding keeps the extents and the metadata out of each other's blocks
    /// (default [`DEFAULT_ALIGN`], 1 MiB; on Lustre, the stripe size). 0 or 1: no padding.
    pub fn align(mut self, align: u64) -> Self {
        self.options.align = align;
        self
    }

    /// Called on rank 0 while a write lays the file out (each write of a stream):
    /// `(objects done, objects in total)`, about every 1% and once at the end.
    pub fn progress(mut self, progress: impl Fn(u64, u64) + Send + Sync + 'static) -> Self {
        self.options.progress = Some(Arc::new(progress));
        self
    }

    /// A fault to inject (the crate's fault-injection tests; feature `test-hooks`). A
    /// stream trips it in the write it names; a single write trips it whatever its number.
    #[cfg(feature = "test-hooks")]
    pub fn fault(mut self, fault: Fault) -> Self {
        self.options.fault = Some(fault);
        self
    }

    /// The options.
    pub fn build(self) -> WriteOptions {
        self.options
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builder_sets_what_it_is_given_and_keeps_the_defaults_otherwise() {
        let default = WriteOptions::default();
        assert!(default.share_properties() && default.mpio_hints().is_empty());
        assert_eq!((default.io(), default.align()), (Io::Collective, DEFAULT_ALIGN));
        assert!(default.progress().is_none());

        let built = WriteOptions::builder().io(Io::Independent).mpio_hint("cb_nodes", "2").mpio_hints([("a", "1"), ("b", "2")]).build();
        assert!(built.share_properties());
        assert_eq!((built.io(), built.align()), (Io::Independent, DEFAULT_ALIGN));
        let keys: Vec<&str> = built.mpio_hints().iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["cb_nodes", "a", "b"]);

        let changed = built.to_builder().share_properties(false).align(0).build();
        assert!(!changed.share_properties());
        assert_eq!((changed.io(), changed.align(), changed.mpio_hints().len()), (Io::Independent, 0, 3));
    }

    #[test]
    fn the_progress_callback_is_shared_by_clones() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        let options = WriteOptions::builder().progress(move |done, total| log.lock().expect("not poisoned").push((done, total))).build();
        let copy = options.for_write(3);
        options.progress().expect("set")(1, 2);
        copy.progress().expect("kept")(2, 2);
        assert_eq!(*seen.lock().expect("not poisoned"), [(1, 2), (2, 2)]);
        assert!(format!("{options:?}").contains("progress: Some"));
    }

    #[cfg(feature = "test-hooks")]
    #[test]
    fn a_stream_trips_a_fault_only_in_the_write_it_names() {
        let fault = Fault { rank: 0, write: 1, point: FaultPoint::Layout, pause: false };
        let options = WriteOptions::builder().fault(fault).build();
        let path = Path::new("x.nio");
        assert!(options.for_write(0).trip(0, FaultPoint::Layout, path).is_ok());
        assert!(options.for_write(1).trip(0, FaultPoint::Layout, path).is_err());
        assert!(options.trip(0, FaultPoint::Layout, path).is_err(), "a single write trips it");
    }
}
