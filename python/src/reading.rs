//! Reading files back: the light object tree (`bsb_results/_tree.py`), recordings, lazy
//! access, and figures.

use std::path::PathBuf;

use bsb_results::plot::{PlotOptions, Segments};
use bsb_results::reader::{Listed, Run};
use bsb_results::recording::RecordingData;
use bsb_results::{AnalogSignal, Block, Filter, NioFile, Object, Segment, SpikeTrain, iter_recordings_where};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyRange, PyString};

use crate::convert::{array, dict, json_out, samples};
use crate::errors::Raise;

/// Runs `f` with the GIL released (reading needs no Python).
fn detached<T: Send>(py: Python<'_>, f: impl FnOnce() -> T + Send) -> T {
    py.detach(f)
}

/// A class of `bsb_results._tree`, called with keyword arguments.
fn make<'py>(py: Python<'py>, class: &str, fields: &Bound<'py, PyDict>) -> PyResult<Bound<'py, PyAny>> {
    py.import("bsb_results._tree")?.getattr(class)?.call((), Some(fields))
}

fn train<'py>(py: Python<'py>, t: SpikeTrain) -> PyResult<Bound<'py, PyAny>> {
    let d = PyDict::new(py);
    d.set_item("name", t.name())?;
    d.set_item("units", t.units())?;
    d.set_item("t_start", t.t_start())?;
    d.set_item("t_stop", t.t_stop())?;
    d.set_item("annotations", dict(py, t.annotations(), false)?)?;
    d.set_item("array_annotations", dict(py, t.array_annotations(), true)?)?;
    d.set_item("times", array(py, t.times().to_vec()))?;
    make(py, "SpikeTrain", &d)
}

fn signal<'py>(py: Python<'py>, s: AnalogSignal) -> PyResult<Bound<'py, PyAny>> {
    let d = PyDict::new(py);
    d.set_item("name", s.name())?;
    d.set_item("units", s.units())?;
    d.set_item("sampling_period", s.sampling_period())?;
    d.set_item("time_units", s.time_units())?;
    d.set_item("t_start", s.t_start())?;
    d.set_item("t_stop", s.t_stop())?;
    d.set_item("annotations", dict(py, s.annotations(), false)?)?;
    d.set_item("array_annotations", dict(py, s.array_annotations(), true)?)?;
    let (n_samples, n_channels) = (s.n_samples(), s.n_channels());
    d.set_item("samples", samples(py, s.data_channel_major().to_vec(), n_samples, n_channels)?)?;
    make(py, "AnalogSignal", &d)
}

fn segment<'py>(py: Python<'py>, s: Segment) -> PyResult<Bound<'py, PyAny>> {
    let d = PyDict::new(py);
    d.set_item("name", &s.name)?;
    d.set_item("rec_datetime", &s.rec_datetime)?;
    d.set_item("annotations", dict(py, &s.annotations, false)?)?;
    let trains = PyList::empty(py);
    for t in s.spiketrains {
        trains.append(train(py, t)?)?;
    }
    let signals = PyList::empty(py);
    for a in s.analogsignals {
        signals.append(signal(py, a)?)?;
    }
    d.set_item("spiketrains", trains)?;
    d.set_item("analogsignals", signals)?;
    make(py, "Segment", &d)
}

fn block<'py>(py: Python<'py>, b: Block) -> PyResult<Bound<'py, PyAny>> {
    let d = PyDict::new(py);
    d.set_item("name", &b.name)?;
    d.set_item("rec_datetime", &b.rec_datetime)?;
    d.set_item("annotations", dict(py, &b.annotations, false)?)?;
    let segments = PyList::empty(py);
    for s in b.segments {
        segments.append(segment(py, s)?)?;
    }
    d.set_item("segments", segments)?;
    make(py, "Block", &d)
}

/// The run named `run` (with `run_index`, or the last of that name), or the first.
fn pick_run(file: &NioFile, run: Option<&str>, run_index: Option<i64>) -> bsb_results::Result<Run> {
    match run {
        Some(name) => file.run(name, run_index),
        None => {
            let runs = file.runs()?;
            let first = runs.into_iter().next();
            first.ok_or_else(|| bsb_results::Error::Format { path: file.path(), problem: "it holds no run (no Block)".into() })
        }
    }
}

/// Reads a run of `path` whole (the first, or the one named `run`).
#[pyfunction]
#[pyo3(signature = (path, run=None, run_index=None))]
pub(crate) fn read_nio<'py>(py: Python<'py>, path: PathBuf, run: Option<String>, run_index: Option<i64>) -> PyResult<Bound<'py, PyAny>> {
    let read = detached(py, || {
        let file = NioFile::open(&path)?;
        file.read(&pick_run(&file, run.as_deref(), run_index)?)
    });
    block(py, read.or_raise()?)
}

/// Reads every run of `path` whole, in file order.
#[pyfunction]
pub(crate) fn read_nio_all<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyList>> {
    let blocks = detached(py, || bsb_results::read_nio_all(&path)).or_raise()?;
    let out = PyList::empty(py);
    for b in blocks {
        out.append(block(py, b)?)?;
    }
    Ok(out)
}

/// One recording per target of a run, multiplexed objects demultiplexed, as BSB 8 does;
/// only those of `device`, `ps_name` and `cell_id` where given.
#[pyfunction]
#[pyo3(signature = (path, device=None, ps_name=None, cell_id=None, *, run=None, run_index=None))]
pub(crate) fn iter_recordings<'py>(
    py: Python<'py>,
    path: PathBuf,
    device: Option<String>,
    ps_name: Option<String>,
    cell_id: Option<i64>,
    run: Option<String>,
    run_index: Option<i64>,
) -> PyResult<Bound<'py, PyList>> {
    let filter = Filter { device, ps_name, cell_id };
    let recordings = detached(py, || {
        let file = NioFile::open(&path)?;
        let block = file.read(&pick_run(&file, run.as_deref(), run_index)?)?;
        Ok::<_, bsb_results::Error>(iter_recordings_where(&block, filter).collect::<Vec<_>>())
    })
    .or_raise()?;
    let out = PyList::empty(py);
    for r in recordings {
        let d = PyDict::new(py);
        d.set_item("segment", r.segment)?;
        d.set_item("ps_name", &r.ps_name)?;
        d.set_item("cell_id", r.cell_id)?;
        d.set_item("device", &r.device)?;
        d.set_item("name", &r.name)?;
        d.set_item("units", &r.units)?;
        d.set_item("annotations", dict(py, &r.annotations, false)?)?;
        let data = match r.data {
            RecordingData::SpikeTrain(t) => train(py, t)?,
            RecordingData::AnalogSignal(s) => signal(py, s)?,
        };
        d.set_item("data", data)?;
        out.append(make(py, "Recording", &d)?)?;
    }
    Ok(out)
}

/// An object of a run described without its samples; `NioFile.load` reads them.
#[pyclass(name = "Listed", module = "bsb_results", frozen)]
pub(crate) struct PyListed {
    listed: Listed,
    /// The file it was listed from.
    path: PathBuf,
}

#[pymethods]
impl PyListed {
    /// Index of its segment in the run.
    #[getter]
    fn segment(&self) -> usize {
        self.listed.segment
    }
    /// `"spiketrain"` or `"analogsignal"`.
    #[getter]
    fn kind(&self) -> &'static str {
        match self.listed.kind {
            bsb_results::Kind::SpikeTrain => "spiketrain",
            bsb_results::Kind::AnalogSignal => "analogsignal",
        }
    }
    #[getter]
    fn name(&self) -> Option<&str> {
        self.listed.name.as_deref()
    }
    #[getter]
    fn units(&self) -> &str {
        &self.listed.units
    }
    #[getter]
    fn time_units(&self) -> &str {
        &self.listed.time_units
    }
    #[getter]
    fn t_start(&self) -> f64 {
        self.listed.t_start
    }
    #[getter]
    fn t_stop(&self) -> f64 {
        self.listed.t_stop
    }
    #[getter]
    fn sampling_period(&self) -> Option<f64> {
        self.listed.sampling_period
    }
    /// Spikes of a train, samples per channel of a signal.
    #[getter]
    fn n(&self) -> usize {
        self.listed.n
    }
    #[getter]
    fn n_channels(&self) -> usize {
        self.listed.n_channels
    }
    #[getter]
    fn annotations<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        dict(py, &self.listed.annotations, false)
    }
    #[getter]
    fn array_annotations<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        dict(py, &self.listed.array_annotations, true)
    }
    fn __repr__(&self) -> String {
        let name = self.listed.name.as_deref().map_or_else(|| "None".to_owned(), |n| format!("'{n}'"));
        format!("Listed(segment={}, kind='{}', name={name}, n={}, n_channels={})", self.listed.segment, self.kind(), self.listed.n, self.listed.n_channels)
    }
}

/// An open results file, read lazily.
#[pyclass(name = "NioFile", module = "bsb_results", unsendable)]
pub(crate) struct PyNioFile {
    file: Option<NioFile>,
    path: PathBuf,
}

impl PyNioFile {
    fn file(&self) -> PyResult<&NioFile> {
        self.file.as_ref().ok_or_else(|| crate::errors::usage(format!("'{}' is closed", self.path.display())))
    }
}

#[pymethods]
impl PyNioFile {
    /// Opens `path` read-only (rolling back an unfinished write first).
    #[new]
    fn new(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let file = detached(py, || NioFile::open(&path).map(SendFile)).or_raise()?.0;
        Ok(PyNioFile { file: Some(file), path })
    }

    /// The file's path.
    #[getter]
    fn path(&self) -> String {
        self.path.display().to_string()
    }

    /// The runs of the file: dicts of `nix_name`, `name`, `run_index`.
    fn runs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for r in self.file()?.runs().or_raise()? {
            let d = PyDict::new(py);
            d.set_item("nix_name", &r.nix_name)?;
            d.set_item("name", &r.name)?;
            d.set_item("run_index", r.run_index)?;
            out.append(d)?;
        }
        Ok(out)
    }

    /// Every object of a run, described without reading its samples (nor, with
    /// `annotations=False`, its annotations).
    #[pyo3(signature = (run=None, run_index=None, *, annotations=true))]
    fn list(&self, run: Option<&str>, run_index: Option<i64>, annotations: bool) -> PyResult<Vec<PyListed>> {
        let file = self.file()?;
        let listing = file.list(&pick_run(file, run, run_index).or_raise()?, annotations).or_raise()?;
        Ok(listing.objects.into_iter().map(|listed| PyListed { listed, path: self.path.clone() }).collect())
    }

    /// Reads one listed object's data: a `SpikeTrain` or an `AnalogSignal`.
    fn load<'py>(&self, py: Python<'py>, listed: &Bound<'py, PyListed>) -> PyResult<Bound<'py, PyAny>> {
        let listed = listed.get();
        if listed.path != self.path {
            return Err(crate::errors::invalid("listed object", format!("it was listed from '{}', not '{}'", listed.path.display(), self.path.display())));
        }
        match self.file()?.load(&listed.listed).or_raise()? {
            Object::SpikeTrain(t) => train(py, t),
            Object::AnalogSignal(s) => signal(py, s),
        }
    }

    /// Reads a run whole (the first, or the one named `run`).
    #[pyo3(signature = (run=None, run_index=None))]
    fn read<'py>(&self, py: Python<'py>, run: Option<&str>, run_index: Option<i64>) -> PyResult<Bound<'py, PyAny>> {
        let file = self.file()?;
        block(py, file.read(&pick_run(file, run, run_index).or_raise()?).or_raise()?)
    }

    /// Closes the file.
    fn close(&mut self) {
        self.file = None;
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&mut self, _args: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.close();
        false
    }

    fn __repr__(&self) -> String {
        format!("NioFile({:?}{})", self.path.display().to_string(), if self.file.is_some() { "" } else { ", closed" })
    }
}

/// An open file handed out of `detach`.
struct SendFile(NioFile);
// SAFETY: `Python::detach` returns the value to the thread that called it; the file never
// reaches another thread.
unsafe impl Send for SendFile {}

/// The segment range of `plot`: `"0..3"`, a `range`, or a `(start, stop)` tuple.
fn segments(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Segments> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else { return Ok(Segments::all()) };
    if let Ok(s) = obj.cast::<PyString>() {
        return s.to_str()?.parse().or_raise();
    }
    if obj.is_instance_of::<PyRange>() {
        let (start, stop, step): (usize, usize, isize) = (obj.getattr("start")?.extract()?, obj.getattr("stop")?.extract()?, obj.getattr("step")?.extract()?);
        if step != 1 {
            return Err(crate::errors::invalid("segments", "a range of segments must have step 1"));
        }
        return Ok(Segments::range(start..stop));
    }
    let (start, stop): (usize, usize) = obj.extract().map_err(|_| PyTypeError::new_err("segments must be a str like \"0..3\", a range, or a (start, stop) tuple"))?;
    Ok(Segments::range(start..stop))
}

/// Draws the figure of a run (raster, rates, traces) into `out` (`.svg` or `.png`) with the
/// library's plotter; returns what it drew.
#[pyfunction]
#[pyo3(signature = (path, out, *, run=None, run_index=None, segments=None, bin_ms=None, traces=None, cells=None, width=None, height=None, max_marks=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn plot<'py>(
    py: Python<'py>,
    path: PathBuf,
    out: PathBuf,
    run: Option<String>,
    run_index: Option<i64>,
    segments: Option<&Bound<'_, PyAny>>,
    bin_ms: Option<f64>,
    traces: Option<usize>,
    cells: Option<Vec<i64>>,
    width: Option<u32>,
    height: Option<u32>,
    max_marks: Option<usize>,
) -> PyResult<Bound<'py, PyAny>> {
    let mut options = PlotOptions::new().segments(self::segments(segments)?);
    if let Some(run) = run {
        options = options.run(run);
    }
    if let Some(i) = run_index {
        options = options.run_index(i);
    }
    if let Some(b) = bin_ms {
        options = options.bin_ms(b);
    }
    if let Some(t) = traces {
        options = options.traces(t);
    }
    if let Some(c) = cells {
        options = options.cells(c);
    }
    if let Some(w) = width {
        options = options.width(w);
    }
    if let Some(h) = height {
        options = options.height(h);
    }
    if let Some(m) = max_marks {
        options = options.max_marks(m);
    }
    let summary = detached(py, || bsb_results::plot::render(&path, &out, &options)).or_raise()?;
    json_out(py, &serde_json::to_value(&summary).unwrap_or_default())
}
