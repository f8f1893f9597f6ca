//! `FlushContext`: what a Python recorder sees during a flush, and what it appends.
//!
//! The objects a recorder builds are validated as they are made (a bad one raises at
//! once, naming it) and collected here; when the recorder returns, or raises, the flush
//! moves them into the library's segment buffer.

use bsb_results::contract::{self, RunIds};
use bsb_results::{AnalogSignal, Annotations, CellTarget, Device, FlushContext, SpikeTrain, multiplex};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::common::Common;
use crate::convert::{annotations, channels, floats, ints};
use crate::errors::{Raise, usage};

/// The context of one recorder's flush on this rank.
#[pyclass(name = "FlushContext", module = "bsb_results", unsendable)]
pub(crate) struct PyFlushContext {
    simulation_id: String,
    segment_id: String,
    device: Device,
    /// Which checkpoint this is: 0, 1, 2, ...
    #[pyo3(get)]
    checkpoint_index: usize,
    /// Simulation time where this checkpoint starts, in ms.
    #[pyo3(get)]
    t_start_ms: f64,
    /// Simulation time this checkpoint reached, in ms.
    #[pyo3(get)]
    t_stop_ms: f64,
    /// This process's rank.
    #[pyo3(get)]
    rank: i32,
    trains: Vec<SpikeTrain>,
    signals: Vec<AnalogSignal>,
    /// False once the flush is over: a context kept past its flush refuses to append.
    open: bool,
}

impl PyFlushContext {
    /// A context for the recorder of `ctx`'s device.
    pub(crate) fn new(ctx: &FlushContext<'_>) -> Self {
        PyFlushContext {
            simulation_id: ctx.simulation_id().to_owned(),
            segment_id: ctx.segment_id().to_owned(),
            device: ctx.device().clone(),
            checkpoint_index: ctx.checkpoint_index(),
            t_start_ms: ctx.t_start_ms(),
            t_stop_ms: ctx.t_stop_ms(),
            rank: ctx.rank(),
            trains: Vec::new(),
            signals: Vec::new(),
            open: true,
        }
    }

    /// Closes the context and moves what it collected into `ctx`.
    pub(crate) fn drain_into(&mut self, ctx: &mut FlushContext<'_>) {
        self.open = false;
        for t in self.trains.drain(..) {
            ctx.push_spiketrain(t);
        }
        for s in self.signals.drain(..) {
            ctx.push_analogsignal(s);
        }
    }

    fn ids(&self) -> RunIds<'_> {
        RunIds { simulation_id: &self.simulation_id, segment_id: &self.segment_id }
    }

    fn check_open(&self) -> PyResult<()> {
        if self.open { Ok(()) } else { Err(usage("this FlushContext belongs to a flush that is over; use the one passed to the recorder")) }
    }

    fn common(&self, name: Option<String>, t_start: Option<f64>, fields: Option<&Bound<'_, PyAny>>, extra: Option<&Bound<'_, PyAny>>, arrays: Option<&Bound<'_, PyAny>>) -> PyResult<Common> {
        let mut all = annotations(fields, "bsb_")?;
        for (k, v) in annotations(extra, "")?.iter() {
            all.insert(k, v.clone());
        }
        Ok(Common { name, t_start: t_start.unwrap_or(self.t_start_ms), annotations: all, arrays: annotations(arrays, "")? })
    }

    /// The per-target annotations of a multiplexed recording: each target a dict of
    /// annotations (as BSB's `multiplex_targets` takes), or a tuple
    /// `(ps_name, cell_id, cell_model[, fields])`.
    fn targets(&self, targets: &Bound<'_, PyAny>, recording_kind: &str) -> PyResult<Vec<Annotations>> {
        let mut out = Vec::new();
        for target in targets.try_iter()? {
            let target = target?;
            if target.is_instance_of::<PyDict>() {
                out.push(annotations(Some(&target), "")?);
                continue;
            }
            let tuple = target.cast::<PyTuple>().map_err(|_| {
                PyTypeError::new_err("each target must be a dict of annotations or a tuple (ps_name, cell_id, cell_model[, fields])")
            })?;
            let (ps, id, model): (String, i64, String) = (tuple.get_item(0)?.extract()?, tuple.get_item(1)?.extract()?, tuple.get_item(2)?.extract()?);
            let cell = CellTarget::new(ps, id, model).kind(recording_kind);
            let mut a = multiplex::cell_target(&cell, self.device.direction());
            if tuple.len() > 3 {
                for (k, v) in annotations(Some(&tuple.get_item(3)?), "bsb_")?.iter() {
                    a.insert(k, v.clone());
                }
            }
            out.push(a);
        }
        Ok(out)
    }
}

#[pymethods]
impl PyFlushContext {
    /// The run's id.
    #[getter]
    fn simulation_id(&self) -> &str {
        &self.simulation_id
    }
    /// The id of the segment being flushed (shared by every rank).
    #[getter]
    fn segment_id(&self) -> &str {
        &self.segment_id
    }
    /// The name of the recorder's device.
    #[getter]
    fn device(&self) -> &str {
        self.device.name()
    }
    /// The kind of the recorder's device.
    #[getter]
    fn device_kind(&self) -> &str {
        self.device.kind()
    }

    /// Appends a spike train of one cell.
    #[pyo3(signature = (ps_name, cell_id, cell_model, times, t_stop=None, *, t_start=None, name=None, units=None, recording_kind="cell", fields=None, annotations=None, array_annotations=None))]
    #[allow(clippy::too_many_arguments)]
    fn spike_train(
        &mut self,
        ps_name: String,
        cell_id: i64,
        cell_model: String,
        times: &Bound<'_, PyAny>,
        t_stop: Option<f64>,
        t_start: Option<f64>,
        name: Option<String>,
        units: Option<String>,
        recording_kind: &str,
        fields: Option<&Bound<'_, PyAny>>,
        annotations: Option<&Bound<'_, PyAny>>,
        array_annotations: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        self.check_open()?;
        let cell = CellTarget::new(ps_name, cell_id, cell_model).kind(recording_kind);
        let mut b = contract::spike_train(self.ids(), &self.device, &cell, floats(times, "times")?, t_stop.unwrap_or(self.t_stop_ms));
        if let Some(units) = units {
            b = b.units(units);
        }
        let common = self.common(name, t_start, fields, annotations, array_annotations)?;
        self.trains.push(common.build(b)?);
        Ok(())
    }

    /// Appends a stimulus train: the device's own emitted spikes, no cell anchor.
    #[pyo3(signature = (times, targets, t_stop=None, *, t_start=None, name=None, fields=None, annotations=None, array_annotations=None))]
    #[allow(clippy::too_many_arguments)]
    fn stimulus_train(
        &mut self,
        times: &Bound<'_, PyAny>,
        targets: i64,
        t_stop: Option<f64>,
        t_start: Option<f64>,
        name: Option<String>,
        fields: Option<&Bound<'_, PyAny>>,
        annotations: Option<&Bound<'_, PyAny>>,
        array_annotations: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        self.check_open()?;
        let b = contract::stimulus_train(self.ids(), &self.device, floats(times, "times")?, targets, t_stop.unwrap_or(self.t_stop_ms));
        let common = self.common(name, t_start, fields, annotations, array_annotations)?;
        self.trains.push(common.build(b)?);
        Ok(())
    }

    /// Appends a signal of one cell: `samples` 1-D (one channel) or 2-D
    /// (`n_samples × n_channels`).
    #[pyo3(signature = (ps_name, cell_id, cell_model, samples, sampling_period_ms, *, units="mV", name=None, t_start=None, recording_kind="cell", fields=None, annotations=None, array_annotations=None))]
    #[allow(clippy::too_many_arguments)]
    fn analog_signal(
        &mut self,
        ps_name: String,
        cell_id: i64,
        cell_model: String,
        samples: &Bound<'_, PyAny>,
        sampling_period_ms: f64,
        units: &str,
        name: Option<String>,
        t_start: Option<f64>,
        recording_kind: &str,
        fields: Option<&Bound<'_, PyAny>>,
        annotations: Option<&Bound<'_, PyAny>>,
        array_annotations: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        self.check_open()?;
        let cell = CellTarget::new(ps_name, cell_id, cell_model).kind(recording_kind);
        let (data, n_channels) = channels(samples, "samples")?;
        let signal = AnalogSignal::from_channel_major(data, n_channels, units, sampling_period_ms);
        let b = signal.annotate_all(&contract::cell_annotations(&self.device, &cell, self.ids()));
        let common = self.common(name, t_start, fields, annotations, array_annotations)?;
        self.signals.push(common.build(b)?);
        Ok(())
    }

    /// Appends one spike train for many targets (BSB 8's multiplexed form).
    #[pyo3(signature = (targets, times, target_index, t_stop=None, *, t_start=None, name=None, recording_kind="cell", annotations=None))]
    #[allow(clippy::too_many_arguments)]
    fn multiplexed_spikes(
        &mut self,
        targets: &Bound<'_, PyAny>,
        times: &Bound<'_, PyAny>,
        target_index: &Bound<'_, PyAny>,
        t_stop: Option<f64>,
        t_start: Option<f64>,
        name: Option<String>,
        recording_kind: &str,
        annotations: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        self.check_open()?;
        let targets = self.targets(targets, recording_kind)?;
        let (times, index) = (floats(times, "times")?, ints(target_index, "target_index")?);
        let b = multiplex::spike_train(self.ids(), &self.device, &targets, times, index, t_stop.unwrap_or(self.t_stop_ms)).or_raise()?;
        let common = self.common(name, t_start, None, annotations, None)?;
        self.trains.push(common.build(b)?);
        Ok(())
    }

    /// Appends one signal with a channel per target (BSB 8's multiplexed form): `samples`
    /// is `n_samples × n_targets`.
    #[pyo3(signature = (targets, samples, sampling_period_ms, *, units="mV", name=None, t_start=None, recording_kind="cell", annotations=None))]
    #[allow(clippy::too_many_arguments)]
    fn multiplexed_signal(
        &mut self,
        targets: &Bound<'_, PyAny>,
        samples: &Bound<'_, PyAny>,
        sampling_period_ms: f64,
        units: &str,
        name: Option<String>,
        t_start: Option<f64>,
        recording_kind: &str,
        annotations: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        self.check_open()?;
        let targets = self.targets(targets, recording_kind)?;
        let (data, n_channels) = channels(samples, "samples")?;
        let signal = AnalogSignal::from_channel_major(data, n_channels, units, sampling_period_ms);
        let b = multiplex::analog_signal(self.ids(), &self.device, &targets, signal).or_raise()?;
        let common = self.common(name, t_start, None, annotations, None)?;
        self.signals.push(common.build(b)?);
        Ok(())
    }

    fn __repr__(&self) -> String {
        format!(
            "FlushContext(device={:?}, checkpoint_index={}, t_start_ms={}, t_stop_ms={}, rank={})",
            self.device.name(),
            self.checkpoint_index,
            self.t_start_ms,
            self.t_stop_ms,
            self.rank
        )
    }
}

