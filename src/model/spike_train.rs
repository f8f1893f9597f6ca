//! Spike trains: spike times of one source over an interval.

use serde::{Deserialize, Serialize};

use super::annotations::{Annotations, check_no_nul};
use super::builder::ObjectBuilder;
use super::{MAX_ELEMENTS, describe, validate_units};
use crate::error::{Error, Result};

/// Spike times of one source in `[t_start, t_stop]`, a Neo `SpikeTrain`.
///
/// Built with [`SpikeTrain::builder`], which validates everything, so a `SpikeTrain` in
/// hand can always be written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpikeTrain {
    pub(crate) name: Option<String>,
    pub(crate) times: Vec<f64>,
    pub(crate) units: String,
    pub(crate) t_start: f64,
    pub(crate) t_stop: f64,
    pub(crate) annotations: Annotations,
    pub(crate) array_annotations: Annotations,
}

impl SpikeTrain {
    /// Starts a spike train of `times` that ends at `t_stop` (units `ms`, `t_start` 0).
    pub fn builder(times: Vec<f64>, t_stop: f64) -> SpikeTrainBuilder {
        let train = SpikeTrain {
            name: None,
            times,
            units: "ms".into(),
            t_start: 0.0,
            t_stop,
            annotations: Annotations::new(),
            array_annotations: Annotations::new(),
        };
        ObjectBuilder::new(train, None)
    }

    /// The name, if any (Neo reads a missing name as `""`).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
    /// The spike times.
    pub fn times(&self) -> &[f64] {
        &self.times
    }
    /// The time unit (`ms`).
    pub fn units(&self) -> &str {
        &self.units
    }
    /// Start of the interval.
    pub fn t_start(&self) -> f64 {
        self.t_start
    }
    /// End of the interval.
    pub fn t_stop(&self) -> f64 {
        self.t_stop
    }
    /// The annotations.
    pub fn annotations(&self) -> &Annotations {
        &self.annotations
    }
    /// The array annotations: one entry per spike.
    pub fn array_annotations(&self) -> &Annotations {
        &self.array_annotations
    }
    /// A short description for messages: kind, name, device and cell.
    pub fn describe(&self) -> String {
        describe("spike train", self.name.as_deref(), &self.annotations)
    }

    /// Checks every rule of a writable spike train.
    pub(crate) fn validate(&self) -> Result<()> {
        let what = || self.describe();
        if let Some(name) = &self.name {
            check_no_nul(name).map_err(|p| Error::invalid(what(), p))?;
        }
        validate_units(&self.units, "units", &what)?;
        if !self.t_start.is_finite() || !self.t_stop.is_finite() {
            return Err(Error::invalid(what(), format!("t_start {} and t_stop {} must be finite", self.t_start, self.t_stop)));
        }
        if self.t_stop < self.t_start {
            return Err(Error::invalid(what(), format!("t_stop {} is before t_start {}", self.t_stop, self.t_start)));
        }
        if self.times.len() > MAX_ELEMENTS {
            return Err(Error::invalid(what(), format!("{} spikes is more than one dataset can hold ({MAX_ELEMENTS})", self.times.len())));
        }
        if let Some((i, t)) = self.times.iter().enumerate().find(|(_, t)| !t.is_finite()) {
            return Err(Error::invalid(what(), format!("spike {i} has a non-finite time {t}")));
        }
        if let Some((i, t)) = self.times.iter().enumerate().find(|(_, t)| **t < self.t_start || **t > self.t_stop) {
            return Err(Error::invalid(
                what(),
                format!("spike {i} at {t} lies outside [t_start {}, t_stop {}]", self.t_start, self.t_stop),
            ));
        }
        self.annotations.validate(&what)?;
        self.array_annotations.validate_arrays(self.times.len(), "spike", &what)
    }
}

/// Builds a validated [`SpikeTrain`]: the steps every [`ObjectBuilder`] has, and the
/// time unit.
pub type SpikeTrainBuilder = ObjectBuilder<SpikeTrain>;

impl SpikeTrainBuilder {
    /// Sets the time unit (default `ms`).
    pub fn units(mut self, units: impl Into<String>) -> Self {
        self.object.units = units.into();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(b: SpikeTrainBuilder) -> String {
        b.build().unwrap_err().to_string()
    }

    #[test]
    fn valid_train_builds() {
        let t = SpikeTrain::builder(vec![1.0, 2.5], 10.0).name("c1").annotate("bsb_cell_id", 3i64).build().unwrap();
        assert_eq!(t.times(), [1.0, 2.5]);
        assert_eq!(t.units(), "ms");
        assert_eq!(t.annotations().get_int("bsb_cell_id"), Some(3));
    }

    #[test]
    fn empty_train_and_boundaries_are_fine() {
        assert!(SpikeTrain::builder(vec![], 0.0).build().is_ok());
        assert!(SpikeTrain::builder(vec![0.0, 10.0], 10.0).build().is_ok());
    }

    #[test]
    fn each_rule_has_its_error() {
        let cell = |b: SpikeTrainBuilder| b.name("n").annotate("bsb_device_name", "dev").annotate("bsb_cell_id", 7i64);
        let e = err(cell(SpikeTrain::builder(vec![f64::NAN], 10.0)));
        assert!(e.contains("non-finite") && e.contains("'n'") && e.contains("device 'dev'") && e.contains("cell 7"), "{e}");
        assert!(err(SpikeTrain::builder(vec![f64::INFINITY], 10.0)).contains("non-finite"));
        assert!(err(SpikeTrain::builder(vec![11.0], 10.0)).contains("outside"));
        assert!(err(SpikeTrain::builder(vec![1.0], 10.0).t_start(2.0)).contains("outside"));
        assert!(err(SpikeTrain::builder(vec![], 1.0).t_start(2.0)).contains("before t_start"));
        assert!(err(SpikeTrain::builder(vec![], f64::NAN)).contains("finite"));
        assert!(err(SpikeTrain::builder(vec![], 1.0).units("")).contains("units"));
        assert!(err(SpikeTrain::builder(vec![], 1.0).annotate("", 1i64)).contains("empty"));
        assert!(err(SpikeTrain::builder(vec![], 1.0).annotate("nix_name", 1i64)).contains("reserved"));
        assert!(err(SpikeTrain::builder(vec![1.0], 2.0).array_annotate("i", vec![1i64, 2])).contains("one list entry per spike"));
    }
}
