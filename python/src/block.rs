//! `BlockWriter`: a run's Block written exactly as Python built it (`bsb_results.bsb`
//! hands over what BSB's recorders appended to each checkpoint's `neo.Segment`).

use std::path::PathBuf;

use bsb_results::model::SpikeTrain as Train;
use bsb_results::{AnalogSignal, Annotations, BlockWriter, Segment, Value, WriteOptions};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::comm;
use crate::common::Common;
use crate::convert::{annotations, channels, floats, ints, value};
use crate::errors::Raise;
use crate::writing::{OnThisThread, mode, summary};

/// One run's Block on this rank: its name and annotations, and the checkpoints this rank
/// buffered since the last write.
#[pyclass(name = "BlockWriter", module = "bsb_results", unsendable)]
pub(crate) struct PyBlockWriter {
    /// `None` once leaked: freeing its communicator after `MPI_Finalize` would abort.
    writer: Option<BlockWriter>,
}

impl Drop for PyBlockWriter {
    fn drop(&mut self) {
        if comm::finalized() {
            std::mem::forget(self.writer.take());
        }
    }
}

/// A required item of a dict describing a Neo object.
fn item<'py>(d: &Bound<'py, PyDict>, key: &str, what: &str) -> PyResult<Bound<'py, PyAny>> {
    d.get_item(key)?.ok_or_else(|| PyTypeError::new_err(format!("{what} has no {key:?}")))
}

/// The dict describing one Neo object.
fn described(o: Bound<'_, PyAny>) -> PyResult<Bound<'_, PyDict>> {
    o.cast_into::<PyDict>().map_err(|_| PyTypeError::new_err("each object must be a dict"))
}

/// What a Neo object's dict holds beside its data: an optional name, `t_start`,
/// annotations and array annotations.
fn common(d: &Bound<'_, PyDict>, what: &str) -> PyResult<Common> {
    let name = match d.get_item("name")? {
        Some(n) if !n.is_none() => Some(n.extract()?),
        _ => None,
    };
    let t_start = item(d, "t_start", what)?.extract()?;
    let annotations = annotations(d.get_item("annotations")?.as_ref(), "")?;
    Ok(Common { name, t_start, annotations, arrays: arrays(d.get_item("array_annotations")?)? })
}

/// Array annotations, numpy arrays of numbers crossing without a Python list in between.
fn arrays(obj: Option<Bound<'_, PyAny>>) -> PyResult<Annotations> {
    let mut out = Annotations::new();
    let Some(obj) = obj.filter(|o| !o.is_none()) else { return Ok(out) };
    let dict = obj.cast::<PyDict>().map_err(|_| PyTypeError::new_err("array_annotations must be a dict"))?;
    for (k, v) in dict.iter() {
        let key: String = k.extract()?;
        let kind: Option<String> = v.getattr("dtype").and_then(|d| d.getattr("kind")).and_then(|k| k.extract()).ok();
        let values = match kind.as_deref() {
            Some("i" | "u") => Value::IntList(ints(&v, &key)?),
            Some("f") => Value::FloatList(floats(&v, &key)?),
            _ => match value(&v, &key)? {
                // One element is still an array (NIX would read a scalar back otherwise).
                Value::Str(s) => Value::StrList(vec![s]),
                Value::Int(i) => Value::IntList(vec![i]),
                Value::Float(f) => Value::FloatList(vec![f]),
                Value::Bool(b) => Value::BoolList(vec![b]),
                list => list,
            },
        };
        out.insert(key, values);
    }
    Ok(out)
}

fn spike_train(d: &Bound<'_, PyDict>) -> PyResult<Train> {
    let what = "a spike train";
    let b = Train::builder(floats(&item(d, "times", what)?, "times")?, item(d, "t_stop", what)?.extract()?)
        .units(item(d, "units", what)?.extract::<String>()?);
    common(d, what)?.build(b)
}

fn analog_signal(d: &Bound<'_, PyDict>) -> PyResult<AnalogSignal> {
    let what = "an analog signal";
    let (data, n_channels) = channels(&item(d, "samples", what)?, "samples")?;
    let units: String = item(d, "units", what)?.extract()?;
    let b = AnalogSignal::from_channel_major(data, n_channels, units, item(d, "sampling_period", what)?.extract()?)
        .time_units(item(d, "time_units", what)?.extract::<String>()?);
    common(d, what)?.build(b)
}

impl PyBlockWriter {
    fn writer(&mut self) -> &mut BlockWriter {
        self.writer.as_mut().expect("only taken on drop")
    }
}

#[pymethods]
impl PyBlockWriter {
    /// A Block named `name` with `annotations` (`run_index` is added when it is written).
    /// Collective over `comm` (mpi4py's communicator; the world by default).
    #[new]
    #[pyo3(signature = (name, annotations=None, comm=None))]
    fn new(py: Python<'_>, name: &str, annotations: Option<&Bound<'_, PyAny>>, comm: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let annotations = crate::convert::annotations(annotations, "")?;
        let comm = comm::communicator(py, comm)?;
        let writer = OnThisThread((comm, annotations)).run(py, |(comm, annotations)| BlockWriter::new(&*comm, name, annotations));
        Ok(PyBlockWriter { writer: Some(writer) })
    }

    /// This rank.
    #[getter]
    fn rank(&mut self) -> i32 {
        self.writer().rank()
    }
    /// The number of ranks.
    #[getter]
    fn size(&mut self) -> i32 {
        self.writer().size()
    }
    /// Checkpoints buffered on this rank since the last write.
    #[getter]
    fn buffered(&mut self) -> usize {
        self.writer().segments().len()
    }

    /// Names a device of this rank, in the order its objects should come in the file.
    fn add_device(&mut self, name: &str) {
        self.writer().add_device(name);
    }

    /// Buffers one checkpoint of this rank: its annotations, spike trains and signals,
    /// each a dict (`times`, `units`, `t_start`, `t_stop`, `name`, `annotations`,
    /// `array_annotations`; signals `samples` n_samples × n_channels, `units`,
    /// `sampling_period`, `time_units`, `t_start`, ...). Everything is validated here.
    #[pyo3(signature = (annotations, spiketrains, analogsignals, *, name=None))]
    fn push_segment(&mut self, annotations: &Bound<'_, PyAny>, spiketrains: &Bound<'_, PyList>, analogsignals: &Bound<'_, PyList>, name: Option<String>) -> PyResult<()> {
        let segment = Segment {
            name,
            rec_datetime: None,
            annotations: crate::convert::annotations(Some(annotations), "")?,
            spiketrains: spiketrains.iter().map(|o| spike_train(&described(o)?)).collect::<PyResult<_>>()?,
            analogsignals: analogsignals.iter().map(|o| analog_signal(&described(o)?)).collect::<PyResult<_>>()?,
        };
        self.writer().push_segment(segment);
        Ok(())
    }

    /// Writes every rank's buffered checkpoints and frees them (collective): the first
    /// write creates the Block in `path` (`ow` replaces the file, `rw` adds the Block to
    /// it), later writes add their checkpoints to that Block. Returns the write's summary.
    #[pyo3(signature = (path, mode="rw", *, share_properties=true))]
    fn write<'py>(&mut self, py: Python<'py>, path: PathBuf, mode: &str, share_properties: bool) -> PyResult<Bound<'py, PyAny>> {
        let mode = self::mode(mode)?;
        let writer = self.writer();
        let ranks = writer.size();
        let options = WriteOptions::builder().share_properties(share_properties).build();
        let written = OnThisThread(writer).run(py, |w| w.write(&path, mode, &options));
        summary(py, &written.or_raise()?, ranks)
    }

    /// Sets one annotation of the written Block (collective).
    fn annotate<'py>(&mut self, py: Python<'py>, key: &str, value: &Bound<'_, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let value = crate::convert::value(value, key)?;
        let writer = self.writer();
        let ranks = writer.size();
        let written = OnThisThread(writer).run(py, |w| w.annotate(key, value, &WriteOptions::default()));
        summary(py, &written.or_raise()?, ranks)
    }
}
