//! The annotation contract: the flat `bsb_*` keys every recorded object carries.
//!
//! Layers, all flat sibling keys: the **baseline** (which device and run made the object),
//! the **cell anchor** (which cell it records) and **kind-specific fields** (`bsb_<key>`).

use crate::error::{Error, Result};
use crate::model::{AnalogSignal, AnalogSignalBuilder, Annotations, SpikeTrain, SpikeTrainBuilder, check_no_nul};

/// The contract's annotation keys.
pub mod keys {
    /// Name of the device that made the recording.
    pub const DEVICE_NAME: &str = "bsb_device_name";
    /// Kind the device was configured as (`spike_recorder`).
    pub const DEVICE_KIND: &str = "bsb_device_kind";
    /// What is recorded: `cell`, `compartment`, `synapse`, `stimulus`, ...
    pub const RECORDING_KIND: &str = "bsb_recording_kind";
    /// The run's id.
    pub const SIMULATION_ID: &str = "bsb_simulation_id";
    /// The checkpoint's id.
    pub const SEGMENT_ID: &str = "bsb_segment_id";
    /// `record` or `stimulate`.
    pub const DIRECTION: &str = "bsb_direction";
    /// Placement set (cell type) of the recorded cell.
    pub const PS_NAME: &str = "bsb_ps_name";
    /// Id of the recorded cell in its placement set.
    pub const CELL_ID: &str = "bsb_cell_id";
    /// Cell model the cell was simulated with.
    pub const CELL_MODEL: &str = "bsb_cell_model";
    /// How many targets a stimulus device drives.
    pub const TARGET_COUNT: &str = "bsb_target_count";
}

/// Whether a device observes what it records or injects it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// The device observes (`record`).
    #[default]
    Record,
    /// The device injects (`stimulate`).
    Stimulate,
}

impl Direction {
    /// The annotation value.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Record => "record",
            Direction::Stimulate => "stimulate",
        }
    }
}

/// A simulation device: what a recorder belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    name: String,
    kind: String,
    direction: Direction,
}

impl Device {
    /// A recording device `name` configured as `kind` (`spike_recorder`, `voltmeter`).
    pub fn new(name: impl Into<String>, kind: impl Into<String>) -> Self {
        Device { name: name.into(), kind: kind.into(), direction: Direction::Record }
    }

    /// A device whose kind is its Rust type's name, the rule for devices that were not
    /// configured under a kind.
    pub fn of_type<T: ?Sized>(name: impl Into<String>) -> Self {
        let full = std::any::type_name::<T>();
        let short = full.split('<').next().unwrap_or(full).rsplit("::").next().unwrap_or(full);
        Device::new(name, short)
    }

    /// Marks the device as one that injects (`bsb_direction = "stimulate"`).
    #[must_use]
    pub fn stimulating(mut self) -> Self {
        self.direction = Direction::Stimulate;
        self
    }

    /// The device's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The device's kind.
    pub fn kind(&self) -> &str {
        &self.kind
    }
    /// The device's direction.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// Checks that name and kind are non-empty strings HDF5 can hold.
    pub(crate) fn validate(&self) -> Result<()> {
        for (field, value) in [("name", &self.name), ("kind", &self.kind)] {
            if value.trim().is_empty() {
                return Err(Error::invalid(format!("device {:?}", self.name), format!("device {field} cannot be empty")));
            }
            check_no_nul(value).map_err(|p| Error::invalid(format!("device {:?}", self.name), p))?;
        }
        Ok(())
    }
}

/// The recorded cell: the contract's cell anchor plus the recording kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellTarget {
    /// Placement set (cell type) name.
    pub ps_name: String,
    /// Id of the cell in its placement set.
    pub cell_id: i64,
    /// Cell model name.
    pub cell_model: String,
    /// `cell` by default; `compartment` or `synapse` for kinds that build on the anchor.
    pub recording_kind: String,
}

impl CellTarget {
    /// Cell `cell_id` of placement set `ps_name`, simulated as `cell_model`.
    pub fn new(ps_name: impl Into<String>, cell_id: i64, cell_model: impl Into<String>) -> Self {
        CellTarget { ps_name: ps_name.into(), cell_id, cell_model: cell_model.into(), recording_kind: "cell".into() }
    }

    /// Sets the recording kind (`compartment`, `synapse`).
    #[must_use]
    pub fn kind(mut self, recording_kind: impl Into<String>) -> Self {
        self.recording_kind = recording_kind.into();
        self
    }
}

/// The ids that tie an object to its run and checkpoint.
#[derive(Debug, Clone, Copy)]
pub struct RunIds<'a> {
    /// The run's `simulation_id`.
    pub simulation_id: &'a str,
    /// The checkpoint's `segment_id`.
    pub segment_id: &'a str,
}

/// The baseline every recording carries.
pub fn baseline(device: &Device, recording_kind: &str, ids: RunIds<'_>) -> Annotations {
    let mut a = Annotations::new();
    a.insert(keys::DEVICE_NAME, device.name());
    a.insert(keys::DEVICE_KIND, device.kind());
    a.insert(keys::RECORDING_KIND, recording_kind);
    a.insert(keys::SIMULATION_ID, ids.simulation_id);
    a.insert(keys::SEGMENT_ID, ids.segment_id);
    a.insert(keys::DIRECTION, device.direction().as_str());
    a
}

/// Baseline plus cell anchor, in the contract's key order.
pub fn cell_annotations(device: &Device, cell: &CellTarget, ids: RunIds<'_>) -> Annotations {
    let mut a = baseline(device, &cell.recording_kind, ids);
    a.insert(keys::PS_NAME, cell.ps_name.as_str());
    a.insert(keys::CELL_ID, cell.cell_id);
    a.insert(keys::CELL_MODEL, cell.cell_model.as_str());
    a
}

/// A spike train of one cell with the baseline and the cell anchor; add kind-specific
/// fields with [`SpikeTrainBuilder::field`].
pub fn spike_train(ids: RunIds<'_>, device: &Device, cell: &CellTarget, times: Vec<f64>, t_stop: f64) -> SpikeTrainBuilder {
    SpikeTrain::builder(times, t_stop).annotate_all(&cell_annotations(device, cell, ids))
}

/// A stimulus train: a device's own emitted spikes, with the baseline,
/// `bsb_recording_kind = "stimulus"` and `bsb_target_count`, but no cell anchor.
pub fn stimulus_train(ids: RunIds<'_>, device: &Device, times: Vec<f64>, target_count: i64, t_stop: f64) -> SpikeTrainBuilder {
    let mut a = baseline(device, "stimulus", ids);
    a.insert(keys::DIRECTION, Direction::Stimulate.as_str());
    a.insert(keys::TARGET_COUNT, target_count);
    SpikeTrain::builder(times, t_stop).annotate_all(&a)
}

/// A one-channel analog signal of one cell, named for the recorded quantity (`V_m`),
/// with the baseline and the cell anchor.
pub fn analog_signal(
    ids: RunIds<'_>,
    device: &Device,
    cell: &CellTarget,
    name: &str,
    units: &str,
    sampling_period: f64,
    samples: Vec<f64>,
) -> AnalogSignalBuilder {
    AnalogSignal::builder(samples, units, sampling_period).name(name).annotate_all(&cell_annotations(device, cell, ids))
}

/// Adds the baseline keys a recorder left out; keys it set itself are kept.
///
/// `bsb_recording_kind` is not guessed: what an object recorded is only known to its
/// recorder.
pub(crate) fn stamp(annotations: &mut Annotations, device: &Device, ids: RunIds<'_>) {
    annotations.set_default(keys::DEVICE_NAME, device.name());
    annotations.set_default(keys::DEVICE_KIND, device.kind());
    annotations.set_default(keys::SIMULATION_ID, ids.simulation_id);
    annotations.set_default(keys::SEGMENT_ID, ids.segment_id);
    annotations.set_default(keys::DIRECTION, device.direction().as_str());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Value;

    const IDS: RunIds<'static> = RunIds { simulation_id: "sim", segment_id: "seg" };

    #[test]
    fn spike_train_has_baseline_anchor_and_fields_in_order() {
        let dev = Device::new("spikes", "spike_recorder");
        let cell = CellTarget::new("granule_cell", 12, "iaf");
        let t = spike_train(IDS, &dev, &cell, vec![1.0], 5.0).field("section", "soma").field("arc", 0.5).build().unwrap();
        let keys: Vec<_> = t.annotations().keys().collect();
        assert_eq!(
            keys,
            [
                "bsb_device_name",
                "bsb_device_kind",
                "bsb_recording_kind",
                "bsb_simulation_id",
                "bsb_segment_id",
                "bsb_direction",
                "bsb_ps_name",
                "bsb_cell_id",
                "bsb_cell_model",
                "bsb_section",
                "bsb_arc"
            ]
        );
        let a = t.annotations();
        assert_eq!(a.get("bsb_device_name"), Some(&Value::Str("spikes".into())));
        assert_eq!(a.get("bsb_device_kind"), Some(&Value::Str("spike_recorder".into())));
        assert_eq!(a.get("bsb_recording_kind"), Some(&Value::Str("cell".into())));
        assert_eq!(a.get("bsb_simulation_id"), Some(&Value::Str("sim".into())));
        assert_eq!(a.get("bsb_segment_id"), Some(&Value::Str("seg".into())));
        assert_eq!(a.get("bsb_direction"), Some(&Value::Str("record".into())));
        assert_eq!(a.get("bsb_ps_name"), Some(&Value::Str("granule_cell".into())));
        assert_eq!(a.get("bsb_cell_id"), Some(&Value::Int(12)));
        assert_eq!(a.get("bsb_cell_model"), Some(&Value::Str("iaf".into())));
        assert_eq!(a.get("bsb_arc"), Some(&Value::Float(0.5)));
    }

    #[test]
    fn stimulus_train_has_no_anchor() {
        let dev = Device::new("poisson", "poisson_generator").stimulating();
        let t = stimulus_train(IDS, &dev, vec![1.0, 2.0], 40, 5.0).build().unwrap();
        let a = t.annotations();
        assert_eq!(a.get_str("bsb_recording_kind"), Some("stimulus"));
        assert_eq!(a.get_str("bsb_direction"), Some("stimulate"));
        assert_eq!(a.get_int("bsb_target_count"), Some(40));
        assert!(a.get("bsb_ps_name").is_none() && a.get("bsb_cell_id").is_none() && a.get("bsb_cell_model").is_none());
    }

    #[test]
    fn analog_signal_has_name_and_compartment_fields() {
        let dev = Device::new("vm", "voltmeter");
        let cell = CellTarget::new("purkinje", 3, "pc").kind("compartment");
        let s = analog_signal(IDS, &dev, &cell, "V_m", "mV", 0.1, vec![-70.0; 4]).field("section", "dend").build().unwrap();
        assert_eq!(s.name(), Some("V_m"));
        assert_eq!(s.units(), "mV");
        assert_eq!(s.annotations().get_str("bsb_recording_kind"), Some("compartment"));
        assert_eq!(s.annotations().get_str("bsb_section"), Some("dend"));
    }

    #[test]
    fn device_kind_falls_back_to_type_name() {
        struct LfpProbe;
        assert_eq!(Device::of_type::<LfpProbe>("probe").kind(), "LfpProbe");
        assert_eq!(Device::new("x", "spike_recorder").kind(), "spike_recorder");
    }

    #[test]
    fn stamping_keeps_what_the_recorder_set() {
        let dev = Device::new("d", "k");
        let mut a = Annotations::new();
        a.insert("bsb_device_name", "own");
        stamp(&mut a, &dev, IDS);
        assert_eq!(a.get_str("bsb_device_name"), Some("own"));
        assert_eq!(a.get_str("bsb_device_kind"), Some("k"));
        assert_eq!(a.get_str("bsb_segment_id"), Some("seg"));
        assert_eq!(a.get_str("bsb_direction"), Some("record"));
        assert!(a.get("bsb_recording_kind").is_none());
    }

    #[test]
    fn devices_need_names() {
        assert!(Device::new("", "k").validate().is_err());
        assert!(Device::new("d", " ").validate().is_err());
        assert!(Device::new("d\0", "k").validate().is_err());
        assert!(Device::new("d", "k").validate().is_ok());
    }
}
