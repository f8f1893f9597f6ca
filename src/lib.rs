//! # bsb-results
//!
//! MPI-parallel neural simulations record spikes and sampled signals on every rank and
//! write them, collectively, into one NIX (`.nio`) HDF5 file that Python's Neo reads as a
//! `Block`. A Rust translation of the results module of the Brain Scaffold Builder.
//!
//! The architecture, one module per concept:
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`model`] | pure data: [`SpikeTrain`], [`AnalogSignal`], [`Segment`], [`Block`], typed [`Value`]s |
//! | [`contract`] | the `bsb_*` annotation contract: devices, cell targets, the convenience constructors |
//! | [`multiplex`] | BSB 8's multiplexed recordings: one object, a roster of many targets |
//! | [`provenance`] | the provenance object (schema 1) and host facts |
//! | [`recorder`] | the [`Recorder`] trait, closure recorders, and the [`FlushContext`] they fill |
//! | [`result`] | [`SimulationResult`]: collective flush, marks and write |
//! | [`stream`] | [`StreamingResult`]: each flush written into the file as it happens |
//! | [`block_writer`] | [`BlockWriter`]: a Block written as the caller built it (BSB's own result objects) |
//! | `parallel` | agreement on errors across ranks, gathering descriptions, the pure layout planner |
//! | `options` | [`WriteOptions`]: how a write or a stream goes, built with [`WriteOptions::builder`] |
//! | `writer` | the collective write: rank 0 lays the file out, all ranks write their data |
//! | [`journal`] | crash safety: the rollback journal, new files renamed into place, recovery, the readers' committed view |
//! | `target` | the file a write changes, and its one owner: open, locks, recovery, commit |
//! | [`nix`] | NIX names, the layout rank 0 writes |
//! | [`reader`] | reading files back (ours and Neo's), lazily: [`read_nio`], [`NioFile`] |
//! | [`recording`] | [`iter_recordings`]: one recording per target, multiplexed objects demultiplexed |
//! | [`synthetic`] | the seeded activity `simulate` records (Poisson trains, membrane-like traces) |
//! | [`plot`] | figures of a run (raster, rates, traces) as SVG or PNG: [`plot::render`] |
//! | `h5` | the one unsafe module for HDF5: raw calls behind safe handles, and objects encoded as libhdf5 writes them |
//! | `os` | host and process facts (`uname`, `getrusage`) |
//!
//! The cargo feature `test-hooks` (off by default) adds what only the crate's own tests
//! and benches use: fault injection (`Fault`, `WriteOptionsBuilder::fault`, the hidden
//! `--fault` flag of `bsb-results simulate`) and `internals` (the single-rank hot paths the
//! criterion benches time). `scripts/test.sh` builds with it.
//!
//! ```no_run
//! use bsb_results::{CellTarget, Device, FileMode, RunInfo, SimulationResult};
//! # fn main() -> bsb_results::Result<()> {
//! let universe = mpi::initialize().expect("MPI initializes once");
//! let world = universe.world();
//! let info = RunInfo { duration_ms: Some(100.0), ..RunInfo::default() };
//! let mut result = SimulationResult::new(&world, "demo", serde_json::json!({}), info)?;
//! result.create_recorder(Device::new("spikes", "spike_recorder"), Default::default(), |ctx| {
//!     let cell = CellTarget::new("granule_cell", 0, "iaf_cond_alpha");
//!     let train = ctx.spike_train(&cell, vec![1.5, 20.0], ctx.t_stop_ms()).build()?;
//!     ctx.push_spiketrain(train);
//!     Ok(())
//! })?;
//! result.flush()?;
//! result.write("demo.nio", FileMode::Overwrite)?;
//! drop(result); // close the crate's communicator before MPI finalizes with `universe`
//! # Ok(())
//! # }
//! ```

pub mod block_writer;
pub mod contract;
mod error;
mod fault;
mod file_mode;
mod h5;
#[cfg(feature = "test-hooks")]
pub mod internals;
pub mod journal;
mod lock;
pub mod model;
pub mod multiplex;
pub mod nix;
mod options;
mod os;
mod parallel;
mod progress;
pub mod plot;
pub mod provenance;
pub mod reader;
pub mod recording;
pub mod recorder;
pub mod result;
pub mod stream;
pub mod synthetic;
mod target;
mod writer;

pub use block_writer::BlockWriter;
pub use contract::{CellTarget, Device, Direction, RunIds};
pub use error::{Error, ErrorKind, Result};
pub use model::{AnalogSignal, Annotations, Block, Segment, SpikeTrain, Value};
pub use provenance::{Provenance, RunInfo};
pub use reader::{Kind, Listed, Listing, NioFile, Object, Run, read_nio, read_nio_all};
pub use recording::{Filter, Recording, RecordingData, iter_recordings, iter_recordings_where};
pub use recorder::{FlushContext, Meta, Recorder, RecorderError};
pub use result::{FlushReport, RecorderFailure, SimulationResult};
pub use stream::{Streamed, StreamingResult};
pub use parallel::hints::MpioReport;
pub use parallel::mpio::Io;
pub use options::{DEFAULT_ALIGN, WriteOptions, WriteOptionsBuilder};
pub use writer::{FileMode, WriteSummary};
#[cfg(feature = "test-hooks")]
pub use fault::{Fault, FaultPoint};

/// The README's Rust examples compile as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
