//! Analog signals: regularly sampled values on one or more channels.

use serde::{Deserialize, Serialize};

use super::annotations::{Annotations, check_no_nul};
use super::builder::ObjectBuilder;
use super::{MAX_ELEMENTS, describe, validate_units};
use crate::error::{Error, Result};

/// Samples of `n_channels` channels taken every `sampling_period`, a Neo `AnalogSignal`.
///
/// Logically an `n_samples × n_channels` matrix; stored channel by channel, because NIX
/// (and so the file) keeps one dataset per channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalogSignal {
    pub(crate) name: Option<String>,
    /// Channel-major: channel `c` is `data[c * n_samples..(c + 1) * n_samples]`.
    pub(crate) data: Vec<f64>,
    pub(crate) n_samples: usize,
    pub(crate) n_channels: usize,
    pub(crate) units: String,
    pub(crate) sampling_period: f64,
    pub(crate) time_units: String,
    pub(crate) t_start: f64,
    pub(crate) annotations: Annotations,
    pub(crate) array_annotations: Annotations,
}

impl AnalogSignal {
    /// Starts a one-channel signal.
    pub fn builder(samples: Vec<f64>, units: impl Into<String>, sampling_period: f64) -> AnalogSignalBuilder {
        let n_samples = samples.len();
        Self::start(samples, n_samples, 1, units.into(), sampling_period, None)
    }

    /// Starts a signal from its channels, each a list of samples (all of one length).
    pub fn from_channels(channels: Vec<Vec<f64>>, units: impl Into<String>, sampling_period: f64) -> AnalogSignalBuilder {
        let n_samples = channels.first().map_or(0, Vec::len);
        let ragged = channels.iter().position(|c| c.len() != n_samples);
        let ragged = ragged.map(|c| format!("channel {c} has {} samples, channel 0 has {n_samples}", channels[c].len()));
        let n_channels = channels.len();
        Self::start(channels.concat(), n_samples, n_channels, units.into(), sampling_period, ragged)
    }

    /// Starts a signal from its samples laid out channel after channel (`n_channels`
    /// channels of equal length), taking the buffer without copying it.
    pub fn from_channel_major(data: Vec<f64>, n_channels: usize, units: impl Into<String>, sampling_period: f64) -> AnalogSignalBuilder {
        let n_samples = data.len().checked_div(n_channels).unwrap_or(0);
        let ragged = (n_channels != 0 && data.len() % n_channels != 0)
            .then(|| format!("{} samples do not split into {n_channels} channels of equal length", data.len()));
        Self::start(data, n_samples, n_channels, units.into(), sampling_period, ragged)
    }

    /// Starts a signal of zeros for a recorder to fill through
    /// [`AnalogSignalBuilder::channel_mut`], checking its size before allocating it.
    ///
    /// # Errors
    /// [`Error::Validation`] when a channel would hold more than one dataset can
    /// ([`MAX_ELEMENTS`]) or the signal would not fit in the memory available.
    pub fn zeros(n_samples: usize, n_channels: usize, units: impl Into<String>, sampling_period: f64) -> Result<AnalogSignalBuilder> {
        let what = || format!("analog signal of {n_samples} samples × {n_channels} channels");
        if n_samples > MAX_ELEMENTS {
            return Err(Error::invalid(what(), format!("{n_samples} samples is more than one dataset can hold ({MAX_ELEMENTS})")));
        }
        let bytes = n_samples.checked_mul(n_channels).and_then(|n| n.checked_mul(8));
        let available = crate::os::available_memory();
        match bytes {
            Some(b) if available.is_none_or(|a| (b as u64) <= a) => {}
            _ => {
                let need = bytes.map_or_else(|| "more than 2^64 bytes".to_owned(), |b| format!("{:.1} GiB", b as f64 / f64::from(1u32 << 30)));
                let have = available.map_or_else(String::new, |a| format!(", but only {:.1} GiB of memory is available", a as f64 / f64::from(1u32 << 30)));
                return Err(Error::invalid(what(), format!("it needs {need}{have}")));
            }
        }
        Ok(Self::start(vec![0.0; n_samples * n_channels], n_samples, n_channels, units.into(), sampling_period, None))
    }

    /// Starts a signal from rows of samples (`n_samples × n_channels`, Neo's shape).
    pub fn from_rows(rows: &[Vec<f64>], units: impl Into<String>, sampling_period: f64) -> AnalogSignalBuilder {
        let n_channels = rows.first().map_or(1, Vec::len);
        let ragged = rows.iter().position(|r| r.len() != n_channels);
        let ragged = ragged.map(|r| format!("row {r} has {} channels, row 0 has {n_channels}", rows[r].len()));
        let mut data = vec![0.0; if ragged.is_some() { 0 } else { rows.len() * n_channels }];
        if ragged.is_none() {
            for (s, row) in rows.iter().enumerate() {
                for (c, v) in row.iter().enumerate() {
                    data[c * rows.len() + s] = *v;
                }
            }
        }
        Self::start(data, rows.len(), n_channels, units.into(), sampling_period, ragged)
    }

    fn start(
        data: Vec<f64>,
        n_samples: usize,
        n_channels: usize,
        units: String,
        sampling_period: f64,
        ragged: Option<String>,
    ) -> AnalogSignalBuilder {
        let signal = AnalogSignal {
            name: None,
            data,
            n_samples,
            n_channels,
            units,
            sampling_period,
            time_units: "ms".into(),
            t_start: 0.0,
            annotations: Annotations::new(),
            array_annotations: Annotations::new(),
        };
        ObjectBuilder::new(signal, ragged.map(|problem| format!("ragged channels: {problem}")))
    }

    /// The name: what quantity was recorded (`V_m`, `I_syn`).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
    /// The number of samples per channel.
    pub fn n_samples(&self) -> usize {
        self.n_samples
    }
    /// The number of channels.
    pub fn n_channels(&self) -> usize {
        self.n_channels
    }
    /// The samples of channel `c`.
    ///
    /// # Panics
    /// If `c >= n_channels`.
    pub fn channel(&self, c: usize) -> &[f64] {
        assert!(c < self.n_channels, "channel {c} of a {}-channel signal", self.n_channels);
        &self.data[c * self.n_samples..(c + 1) * self.n_samples]
    }
    /// All samples, channel after channel.
    pub fn data_channel_major(&self) -> &[f64] {
        &self.data
    }
    /// Sample `s` of channel `c`, as Neo indexes it (`signal[s, c]`).
    pub fn get(&self, s: usize, c: usize) -> Option<f64> {
        (s < self.n_samples && c < self.n_channels).then(|| self.data[c * self.n_samples + s])
    }
    /// The unit of the samples (`mV`).
    pub fn units(&self) -> &str {
        &self.units
    }
    /// The time between samples, in [`AnalogSignal::time_units`].
    pub fn sampling_period(&self) -> f64 {
        self.sampling_period
    }
    /// The unit of `sampling_period` and `t_start` (`ms`).
    pub fn time_units(&self) -> &str {
        &self.time_units
    }
    /// The time of the first sample.
    pub fn t_start(&self) -> f64 {
        self.t_start
    }
    /// The time just after the last sample: `t_start + n_samples * sampling_period`.
    pub fn t_stop(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let n = self.n_samples as f64;
        self.t_start + n * self.sampling_period
    }
    /// The annotations.
    pub fn annotations(&self) -> &Annotations {
        &self.annotations
    }
    /// The array annotations: one entry per channel.
    pub fn array_annotations(&self) -> &Annotations {
        &self.array_annotations
    }
    /// A short description for messages: kind, name, device and cell.
    pub fn describe(&self) -> String {
        describe("analog signal", self.name.as_deref(), &self.annotations)
    }

    /// Checks every rule of a writable signal.
    pub(crate) fn validate(&self) -> Result<()> {
        let what = || self.describe();
        if let Some(name) = &self.name {
            check_no_nul(name).map_err(|p| Error::invalid(what(), p))?;
        }
        validate_units(&self.units, "units", &what)?;
        validate_units(&self.time_units, "time units", &what)?;
        if !(self.sampling_period.is_finite() && self.sampling_period > 0.0) {
            return Err(Error::invalid(what(), format!("sampling period {} must be positive and finite", self.sampling_period)));
        }
        if !self.t_start.is_finite() {
            return Err(Error::invalid(what(), format!("t_start {} must be finite", self.t_start)));
        }
        if self.n_channels == 0 {
            return Err(Error::invalid(what(), "a signal needs at least one channel"));
        }
        if self.n_samples > MAX_ELEMENTS {
            return Err(Error::invalid(what(), format!("{} samples is more than one dataset can hold ({MAX_ELEMENTS})", self.n_samples)));
        }
        if let Some(i) = self.data.iter().position(|v| !v.is_finite()) {
            let (c, s) = (i / self.n_samples.max(1), i % self.n_samples.max(1));
            return Err(Error::invalid(what(), format!("sample {s} of channel {c} is not finite ({})", self.data[i])));
        }
        self.annotations.validate(&what)?;
        self.array_annotations.validate_arrays(self.n_channels, "channel", &what)
    }
}

/// Builds a validated [`AnalogSignal`]: the steps every [`ObjectBuilder`] has, the time
/// unit, and its samples to fill in place.
pub type AnalogSignalBuilder = ObjectBuilder<AnalogSignal>;

impl AnalogSignalBuilder {
    /// The samples of channel `c`, to fill in place.
    ///
    /// # Panics
    /// If `c >= n_channels`.
    pub fn channel_mut(&mut self, c: usize) -> &mut [f64] {
        let s = &mut self.object;
        assert!(c < s.n_channels, "channel {c} of a {}-channel signal", s.n_channels);
        &mut s.data[c * s.n_samples..(c + 1) * s.n_samples]
    }

    /// The number of channels.
    pub fn n_channels(&self) -> usize {
        self.object.n_channels
    }

    /// Sets the unit of `sampling_period` and `t_start` (default `ms`).
    pub fn time_units(mut self, units: impl Into<String>) -> Self {
        self.object.time_units = units.into();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_channels_agree() {
        let a = AnalogSignal::from_rows(&[vec![1.0, 10.0], vec![2.0, 20.0], vec![3.0, 30.0]], "mV", 0.1).build().unwrap();
        let b = AnalogSignal::from_channels(vec![vec![1.0, 2.0, 3.0], vec![10.0, 20.0, 30.0]], "mV", 0.1).build().unwrap();
        assert_eq!(a, b);
        assert_eq!(a.channel(1), [10.0, 20.0, 30.0]);
        assert_eq!(a.get(2, 0), Some(3.0));
        assert!((a.t_stop() - 0.3).abs() < 1e-12);
        let c = AnalogSignal::from_channel_major(vec![1.0, 2.0, 3.0, 10.0, 20.0, 30.0], 2, "mV", 0.1).build().unwrap();
        assert_eq!(a, c);
    }

    #[test]
    fn each_rule_has_its_error() {
        let err = |b: AnalogSignalBuilder| b.build().unwrap_err().to_string();
        assert!(err(AnalogSignal::from_channels(vec![vec![1.0], vec![1.0, 2.0]], "mV", 0.1)).contains("ragged"));
        assert!(err(AnalogSignal::from_rows(&[vec![1.0, 2.0], vec![1.0]], "mV", 0.1)).contains("ragged"));
        assert!(err(AnalogSignal::from_channel_major(vec![1.0; 3], 2, "mV", 0.1)).contains("ragged"));
        assert!(err(AnalogSignal::from_channel_major(vec![], 0, "mV", 0.1)).contains("channel"));
        assert!(err(AnalogSignal::builder(vec![1.0], "mV", 0.0)).contains("sampling period"));
        assert!(err(AnalogSignal::builder(vec![1.0], "mV", -1.0)).contains("sampling period"));
        assert!(err(AnalogSignal::builder(vec![1.0], "mV", f64::NAN)).contains("sampling period"));
        let e = err(AnalogSignal::builder(vec![1.0, f64::NAN], "mV", 0.1).name("V_m"));
        assert!(e.contains("sample 1 of channel 0") && e.contains("'V_m'"), "{e}");
        assert!(err(AnalogSignal::builder(vec![1.0], "", 0.1)).contains("units"));
        assert!(err(AnalogSignal::from_channels(vec![], "mV", 0.1)).contains("channel"));
        assert!(err(AnalogSignal::builder(vec![1.0], "mV", 0.1).annotate("sampling_rate", 1i64)).contains("reserved"));
        assert!(err(AnalogSignal::builder(vec![1.0], "mV", 0.1).t_start(f64::INFINITY)).contains("t_start"));
    }

    #[test]
    fn zeros_are_filled_in_place_and_checked_before_allocating() {
        let mut b = AnalogSignal::zeros(3, 2, "mV", 0.1).unwrap();
        b.channel_mut(1).copy_from_slice(&[1.0, 2.0, 3.0]);
        let s = b.build().unwrap();
        assert_eq!((s.channel(0), s.channel(1)), (&[0.0; 3][..], &[1.0, 2.0, 3.0][..]));
        let e = AnalogSignal::zeros(MAX_ELEMENTS + 1, 1, "mV", 0.1).unwrap_err().to_string();
        assert!(e.contains("more than one dataset can hold"), "{e}");
        let e = AnalogSignal::zeros(1 << 30, 1 << 20, "mV", 0.1).unwrap_err().to_string();
        assert!(e.contains("8388608.0 GiB") && e.contains("memory is available"), "{e}");
        let e = AnalogSignal::zeros(usize::MAX / 2, 4, "mV", 0.1).unwrap_err().to_string();
        assert!(e.contains("samples") || e.contains("2^64"), "{e}");
    }
}
