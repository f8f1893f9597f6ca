//! Recorders: what turns a device's data into spike trains and signals at each flush.

use std::collections::BTreeMap;

use crate::contract::{self, CellTarget, Device, RunIds};
use crate::error::Result;
use crate::model::{AnalogSignal, AnalogSignalBuilder, Annotations, Segment, SpikeTrain, SpikeTrainBuilder};
use crate::multiplex;

/// The error a recorder's flush may return.
pub type RecorderError = Box<dyn std::error::Error + Send + Sync>;

/// Recorder-level metadata: key → JSON value.
pub type Meta = BTreeMap<String, serde_json::Value>;

/// Appends what a device recorded to this rank's buffer of the current segment.
pub trait Recorder: Send {
    /// The device this recorder belongs to.
    fn device(&self) -> &Device;

    /// Recorder-level metadata, readable while the run goes on (`lfp_source_geometry`).
    fn meta(&self, key: &str) -> Option<&serde_json::Value> {
        let _ = key;
        None
    }

    /// Appends this checkpoint's objects through `ctx`.
    ///
    /// # Errors
    /// Any error: the flush warns `Recorder errored out!` and goes on with the other
    /// recorders; what was appended before the error is kept.
    fn flush(&mut self, ctx: &mut FlushContext<'_>) -> Result<(), RecorderError>;
}

/// A recorder made from a closure by [`crate::SimulationResult::create_recorder`].
pub struct FnRecorder<F> {
    device: Device,
    meta: Meta,
    flush: F,
}

impl<F> FnRecorder<F>
where
    F: FnMut(&mut FlushContext<'_>) -> Result<(), RecorderError> + Send,
{
    /// A recorder of `device` that flushes with `flush` and exposes `meta`.
    pub fn new(device: Device, meta: Meta, flush: F) -> Self {
        FnRecorder { device, meta, flush }
    }
}

impl<F> Recorder for FnRecorder<F>
where
    F: FnMut(&mut FlushContext<'_>) -> Result<(), RecorderError> + Send,
{
    fn device(&self) -> &Device {
        &self.device
    }
    fn meta(&self, key: &str) -> Option<&serde_json::Value> {
        self.meta.get(key)
    }
    fn flush(&mut self, ctx: &mut FlushContext<'_>) -> Result<(), RecorderError> {
        (self.flush)(ctx)
    }
}

/// What a recorder sees during a flush: the checkpoint, the segment buffer it appends to,
/// the contract's constructors, and the other recorders (for controllers).
pub struct FlushContext<'a> {
    pub(crate) ids: RunIds<'a>,
    pub(crate) checkpoint_index: usize,
    pub(crate) t_start_ms: f64,
    pub(crate) t_stop_ms: f64,
    pub(crate) rank: i32,
    pub(crate) device: &'a Device,
    pub(crate) segment: &'a mut Segment,
    pub(crate) others: [&'a [Box<dyn Recorder>]; 2],
}

impl FlushContext<'_> {
    /// The run's id.
    pub fn simulation_id(&self) -> &str {
        self.ids.simulation_id
    }
    /// The id of the segment being flushed (shared by every rank).
    pub fn segment_id(&self) -> &str {
        self.ids.segment_id
    }
    /// The ids to pass to [`crate::contract`]'s constructors.
    pub fn ids(&self) -> RunIds<'_> {
        self.ids
    }
    /// Which checkpoint this is: 0, 1, 2, ...
    pub fn checkpoint_index(&self) -> usize {
        self.checkpoint_index
    }
    /// Simulation time where this checkpoint starts, in ms.
    pub fn t_start_ms(&self) -> f64 {
        self.t_start_ms
    }
    /// Simulation time this checkpoint reached, in ms.
    pub fn t_stop_ms(&self) -> f64 {
        self.t_stop_ms
    }
    /// This process's rank.
    pub fn rank(&self) -> i32 {
        self.rank
    }
    /// The device of the recorder being flushed.
    pub fn device(&self) -> &Device {
        self.device
    }

    /// Appends a spike train to this rank's buffer of the segment.
    pub fn push_spiketrain(&mut self, train: SpikeTrain) {
        self.segment.spiketrains.push(train);
    }
    /// Appends an analog signal to this rank's buffer of the segment.
    pub fn push_analogsignal(&mut self, signal: AnalogSignal) {
        self.segment.analogsignals.push(signal);
    }

    /// A spike train of `cell` with the contract's annotations for this recorder's device.
    pub fn spike_train(&self, cell: &CellTarget, times: Vec<f64>, t_stop: f64) -> SpikeTrainBuilder {
        contract::spike_train(self.ids, self.device, cell, times, t_stop)
    }
    /// A stimulus train (no cell anchor) of this recorder's device.
    pub fn stimulus_train(&self, times: Vec<f64>, target_count: i64, t_stop: f64) -> SpikeTrainBuilder {
        contract::stimulus_train(self.ids, self.device, times, target_count, t_stop)
    }
    /// A one-channel signal of `cell` named for its quantity, with the contract's annotations.
    pub fn analog_signal(
        &self,
        cell: &CellTarget,
        name: &str,
        units: &str,
        sampling_period: f64,
        samples: Vec<f64>,
    ) -> AnalogSignalBuilder {
        contract::analog_signal(self.ids, self.device, cell, name, units, sampling_period, samples)
    }

    /// One spike train for all of `targets` (BSB 8's multiplexed form), each spike's target
    /// given by its roster index in `target_index`; see [`multiplex::spike_train`].
    ///
    /// # Errors
    /// As [`multiplex::spike_train`].
    pub fn multiplexed_spikes(&self, targets: &[Annotations], times: Vec<f64>, target_index: Vec<i64>, t_stop: f64) -> Result<SpikeTrainBuilder> {
        multiplex::spike_train(self.ids, self.device, targets, times, target_index, t_stop)
    }
    /// `signal` as the recording of `targets`, one channel each (BSB 8's multiplexed form);
    /// see [`multiplex::analog_signal`].
    ///
    /// # Errors
    /// As [`multiplex::analog_signal`].
    pub fn multiplexed_signal(&self, targets: &[Annotations], signal: AnalogSignalBuilder) -> Result<AnalogSignalBuilder> {
        multiplex::analog_signal(self.ids, self.device, targets, signal)
    }

    /// The other recorders of this rank whose device is one of `devices`: how a controller
    /// (an LFP probe, say) finds the recorders it manages and reads their [`Recorder::meta`].
    pub fn recorders_of<'s>(&'s self, devices: &'s [&str]) -> impl Iterator<Item = &'s dyn Recorder> + 's {
        self.others
            .iter()
            .flat_map(|part| part.iter())
            .map(|r| &**r)
            .filter(move |r| devices.contains(&r.device().name()))
    }
}
