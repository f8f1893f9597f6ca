//! What every spike train and signal handed over carries beside its data (a name, a
//! start, annotations), applied to any builder in one place.

use bsb_results::Annotations;
use bsb_results::model::{Buildable, ObjectBuilder};
use pyo3::prelude::*;

use crate::errors::Raise;

/// Options shared by every constructor: name, start, annotations.
pub(crate) struct Common {
    pub(crate) name: Option<String>,
    pub(crate) t_start: f64,
    pub(crate) annotations: Annotations,
    pub(crate) arrays: Annotations,
}

impl Common {
    /// Sets the start, the annotations, the name if any and the array annotations on
    /// `builder`, and builds the object (raising, naming it, when it is invalid).
    pub(crate) fn build<T: Buildable>(self, builder: ObjectBuilder<T>) -> PyResult<T> {
        let mut b = builder.t_start(self.t_start).annotate_all(&self.annotations);
        if let Some(name) = self.name {
            b = b.name(name);
        }
        for (k, v) in self.arrays.iter() {
            b = b.array_annotate(k, v.clone());
        }
        b.build().or_raise()
    }
}
