//! The result model: pure data, no MPI and no HDF5.

mod analog_signal;
mod annotations;
mod builder;
mod spike_train;

use serde::{Deserialize, Serialize};

pub use analog_signal::{AnalogSignal, AnalogSignalBuilder};
pub use annotations::{Annotations, RESERVED_KEYS, Value, validate_key};
pub use builder::{Buildable, ObjectBuilder};
pub(crate) use annotations::check_no_nul;
pub use spike_train::{SpikeTrain, SpikeTrainBuilder};

use crate::error::{Error, Result};

/// The most elements one spike train or signal channel may hold: MPI counts are `i32`.
pub const MAX_ELEMENTS: usize = i32::MAX as usize;

/// What one flush (a checkpoint) collected: a Neo `Segment`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    /// The name, if any.
    pub name: Option<String>,
    /// When it was recorded: NIX's `%Y%m%dT%H%M%S`, UTC.
    pub rec_datetime: Option<String>,
    /// `segment_id`, `checkpoint_index`, `t_start_ms`, `t_stop_ms`, `simulator_state`, ...
    pub annotations: Annotations,
    /// The spike trains, in order.
    pub spiketrains: Vec<SpikeTrain>,
    /// The analog signals, in order.
    pub analogsignals: Vec<AnalogSignal>,
}

/// One run: a Neo `Block` with its segments.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Block {
    /// The run's name.
    pub name: Option<String>,
    /// When the run started: NIX's `%Y%m%dT%H%M%S`, UTC.
    pub rec_datetime: Option<String>,
    /// `config`, `bsb_simulation_id`, `bsb_provenance`, ...
    pub annotations: Annotations,
    /// One segment per checkpoint.
    pub segments: Vec<Segment>,
}

impl Block {
    /// The decoded `bsb_provenance` JSON, if the block has one.
    pub fn provenance(&self) -> Option<serde_json::Value> {
        serde_json::from_str(self.annotations.get_str("bsb_provenance")?).ok()
    }
}

/// Text that arrives as bytes (from C simulators, files, the network): checked to be
/// UTF-8, which every name, key and string in a NIX file must be.
///
/// # Errors
/// [`Error::Validation`] naming `what` and the first invalid byte.
pub fn text<'a>(bytes: &'a [u8], what: &str) -> Result<&'a str> {
    std::str::from_utf8(bytes).map_err(|e| Error::invalid(what, format!("not UTF-8: {e} ({:?})", String::from_utf8_lossy(bytes))))
}

/// `kind 'name' (device 'd', cell N)`: how messages name an object.
pub(crate) fn describe(kind: &str, name: Option<&str>, annotations: &Annotations) -> String {
    let mut out = kind.to_owned();
    if let Some(name) = name {
        out.push_str(&format!(" '{name}'"));
    }
    let mut context = Vec::new();
    if let Some(device) = annotations.get_str("bsb_device_name") {
        context.push(format!("device '{device}'"));
    }
    if let Some(ps) = annotations.get_str("bsb_ps_name") {
        context.push(format!("placement set '{ps}'"));
    }
    if let Some(cell) = annotations.get_int("bsb_cell_id") {
        context.push(format!("cell {cell}"));
    }
    if !context.is_empty() {
        out.push_str(&format!(" ({})", context.join(", ")));
    }
    out
}

/// Units must name something and fit in an HDF5 string.
pub(crate) fn validate_units(units: &str, field: &str, what: &dyn Fn() -> String) -> Result<()> {
    if units.trim().is_empty() {
        return Err(Error::invalid(what(), format!("{field} cannot be empty")));
    }
    check_no_nul(units).map_err(|p| Error::invalid(what(), p))
}
