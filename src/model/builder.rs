//! The builder of every model object: the steps all kinds share (name, start time,
//! annotations, validation) written once here; each kind adds its own setters.

use super::annotations::{Annotations, Value};
use crate::error::{Error, Result};

/// An object an [`ObjectBuilder`] builds: a [`SpikeTrain`](super::SpikeTrain) or an
/// [`AnalogSignal`](super::AnalogSignal). Sealed, so a built object stays valid.
///
/// Name it to write code over any builder, such as a function that applies the same
/// name and annotations to spike trains and signals alike.
pub trait Buildable: sealed::Object {}

impl<T: sealed::Object> Buildable for T {}

mod sealed {
    use super::Annotations;
    use crate::error::Result;

    /// The fields every object has, which the shared steps set.
    pub struct Fields<'a> {
        pub name: &'a mut Option<String>,
        pub t_start: &'a mut f64,
        pub annotations: &'a mut Annotations,
        pub array_annotations: &'a mut Annotations,
    }

    /// What the builder needs of an object: out of reach of users.
    pub trait Object {
        /// The fields the shared steps set.
        fn fields(&mut self) -> Fields<'_>;
        /// How messages name the object.
        fn label(&self) -> String;
        /// Checks every rule of a writable object.
        fn check(&self) -> Result<()>;
    }
}

/// Makes a model type buildable: where its shared fields are, how messages name it, and
/// its own rules (its `describe` and `validate`).
macro_rules! object {
    ($kind:ty) => {
        impl sealed::Object for $kind {
            fn fields(&mut self) -> sealed::Fields<'_> {
                sealed::Fields {
                    name: &mut self.name,
                    t_start: &mut self.t_start,
                    annotations: &mut self.annotations,
                    array_annotations: &mut self.array_annotations,
                }
            }
            fn label(&self) -> String {
                self.describe()
            }
            fn check(&self) -> Result<()> {
                self.validate()
            }
        }
    };
}

object!(super::SpikeTrain);
object!(super::AnalogSignal);

/// Builds a validated object ([`SpikeTrainBuilder`](super::SpikeTrainBuilder),
/// [`AnalogSignalBuilder`](super::AnalogSignalBuilder)).
#[derive(Debug, Clone)]
#[must_use]
pub struct ObjectBuilder<T> {
    pub(super) object: T,
    /// A problem found while starting (ragged channels), reported by `build`.
    problem: Option<String>,
}

impl<T: Buildable> ObjectBuilder<T> {
    pub(super) fn new(object: T, problem: Option<String>) -> Self {
        ObjectBuilder { object, problem }
    }

    /// Sets the name (of a signal: the recorded quantity, `V_m`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        *self.object.fields().name = Some(name.into());
        self
    }
    /// Sets the start: of a spike train's interval, or the time of a signal's first
    /// sample (default 0).
    pub fn t_start(mut self, t_start: f64) -> Self {
        *self.object.fields().t_start = t_start;
        self
    }
    /// Adds or replaces an annotation.
    pub fn annotate(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.object.fields().annotations.insert(key, value);
        self
    }
    /// Adds every annotation of `annotations`, in order.
    pub fn annotate_all(mut self, annotations: &Annotations) -> Self {
        let own = self.object.fields().annotations;
        for (k, v) in annotations.iter() {
            own.insert(k, v.clone());
        }
        self
    }
    /// Adds an array annotation: a list with one entry per spike of a spike train, or
    /// per channel of a signal.
    pub fn array_annotate(mut self, key: impl Into<String>, values: impl Into<Value>) -> Self {
        self.object.fields().array_annotations.insert(key, values);
        self
    }
    /// Adds `bsb_<key>` = `value`, the contract's form for kind-specific fields.
    pub fn field(self, key: &str, value: impl Into<Value>) -> Self {
        self.annotate(format!("bsb_{key}"), value)
    }
    /// Validates and returns the object.
    ///
    /// # Errors
    /// [`Error::Validation`] naming the object when it breaks a rule of its kind. A spike
    /// train: a time that is not finite or lies outside `[t_start, t_stop]`, or
    /// `t_stop < t_start`. A signal: ragged channels, a sample that is not finite, a
    /// sampling period that is not positive, or no channels. Both: empty units, or an
    /// annotation key that is empty, holds `/` or is reserved by Neo.
    pub fn build(self) -> Result<T> {
        if let Some(problem) = self.problem {
            return Err(Error::invalid(self.object.label(), problem));
        }
        self.object.check()?;
        Ok(self.object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AnalogSignal, SpikeTrain};

    /// The shared steps, written once for any builder.
    fn labelled<T: Buildable>(b: ObjectBuilder<T>) -> ObjectBuilder<T> {
        let mut more = Annotations::new();
        more.insert("k", 2i64);
        more.insert("bsb_cell_id", 7i64);
        b.name("x").t_start(1.0).annotate("k", 1i64).annotate_all(&more).field("device_name", "d").array_annotate("i", vec![5i64])
    }

    #[test]
    fn shared_steps_set_the_same_fields_of_every_kind() {
        let t = labelled(SpikeTrain::builder(vec![1.5], 10.0)).build().unwrap();
        let s = labelled(AnalogSignal::builder(vec![0.0, 1.0], "mV", 0.1)).build().unwrap();
        assert_eq!((t.name(), t.t_start()), (Some("x"), 1.0));
        assert_eq!((s.name(), s.t_start()), (Some("x"), 1.0));
        assert_eq!(t.annotations(), s.annotations());
        assert_eq!(t.array_annotations(), s.array_annotations());
        let keys: Vec<_> = t.annotations().iter().map(|(k, _)| k.to_owned()).collect();
        assert_eq!(keys, ["k", "bsb_cell_id", "bsb_device_name"]);
        assert_eq!(t.annotations().get_int("k"), Some(2), "annotate_all replaces");
        assert_eq!(t.describe(), "spike train 'x' (device 'd', cell 7)");
    }

    #[test]
    fn build_reports_a_problem_found_at_the_start_naming_the_object() {
        let e = labelled(AnalogSignal::from_channels(vec![vec![1.0], vec![]], "mV", 0.1)).build().unwrap_err().to_string();
        assert!(e.contains("ragged channels") && e.contains("analog signal 'x' (device 'd', cell 7)"), "{e}");
        let e = labelled(SpikeTrain::builder(vec![0.5], 10.0)).build().unwrap_err().to_string();
        assert!(e.contains("outside") && e.contains("spike train 'x'"), "{e}");
    }
}
