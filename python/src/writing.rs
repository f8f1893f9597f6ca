//! `SimulationResult` and its `Stream`: the writer, as Python sees it.
//!
//! The collective calls release the GIL while they wait on other ranks or write the file;
//! recorders take it back to run their Python code.

use std::path::PathBuf;

use bsb_results::{Device, FileMode, FlushContext, FlushReport, Io, Meta, RecorderError, RunInfo, SimulationResult, Streamed, StreamingResult, WriteOptions, WriteSummary};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::comm;
use crate::context::PyFlushContext;
use crate::convert::{json_in, json_out};
use crate::errors::{Raise, usage};

/// Moves a value into `Python::detach`, which wants it `Send`.
pub(crate) struct OnThisThread<T>(pub(crate) T);

// SAFETY: `Python::detach` runs its closure on the calling thread and returns before the
// caller goes on; nothing wrapped here ever reaches another thread. (MPI communicators are
// raw pointers, hence not `Send` by themselves.)
unsafe impl<T> Send for OnThisThread<T> {}

impl<T> OnThisThread<T> {
    pub(crate) fn run<R>(self, py: Python<'_>, f: impl FnOnce(T) -> R) -> R {
        let wrapped = OnThisThread((self.0, f));
        let out = py.detach(move || {
            let (value, f) = wrapped.into_inner();
            OnThisThread(f(value))
        });
        out.0
    }

    /// The wrapped value (a method, so that a closure captures the whole wrapper).
    fn into_inner(self) -> T {
        self.0
    }
}

/// Where the run is: buffering flushes, streaming them into a file, or gone.
#[allow(clippy::large_enum_variant)] // one per run, moved only when a stream opens or closes
enum State {
    Buffered(SimulationResult),
    Streaming(StreamingResult),
    /// A failed `stream()` consumed the result.
    Lost,
}

/// One simulation run as seen from this rank.
#[pyclass(name = "SimulationResult", module = "bsb_results", unsendable)]
pub(crate) struct PySimulationResult {
    state: State,
    /// The path being streamed into.
    streaming_to: Option<PathBuf>,
}

impl Drop for PySimulationResult {
    fn drop(&mut self) {
        if comm::finalized() {
            // Freeing the result's communicator after MPI_Finalize would abort the process.
            std::mem::forget(std::mem::replace(&mut self.state, State::Lost));
        }
    }
}

pub(crate) fn mode(mode: &str) -> PyResult<FileMode> {
    mode.parse().or_raise()
}

/// The options of `write` and `stream`: `io` is `"collective"` or `"independent"`.
fn write_options(share_properties: bool, mpio_hints: Option<Vec<(String, String)>>, io: &str) -> PyResult<WriteOptions> {
    let builder = WriteOptions::builder().share_properties(share_properties).io(io.parse::<Io>().or_raise()?);
    Ok(builder.mpio_hints(mpio_hints.unwrap_or_default()).build())
}

/// A write's summary as a dict, with `simulate`'s JSON keys (`write_seconds`, `ranks`).
pub(crate) fn summary<'py>(py: Python<'py>, s: &WriteSummary, ranks: i32) -> PyResult<Bound<'py, PyAny>> {
    let mut json = serde_json::to_value(s).unwrap_or_default();
    if let Some(map) = json.as_object_mut() {
        if let Some(seconds) = map.remove("seconds") {
            map.insert("write_seconds".into(), seconds);
        }
        map.insert("ranks".into(), ranks.into());
    }
    json_out(py, &json)
}

/// A flush's report as a dict.
fn report<'py>(py: Python<'py>, r: &FlushReport) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("checkpoint_index", r.checkpoint_index)?;
    d.set_item("segment_id", &r.segment_id)?;
    d.set_item("spiketrains", r.spiketrains)?;
    d.set_item("analogsignals", r.analogsignals)?;
    let failures = PyList::empty(py);
    for f in &r.failures {
        let item = PyDict::new(py);
        item.set_item("rank", f.rank)?;
        item.set_item("device", &f.device)?;
        item.set_item("error", &f.error)?;
        failures.append(item)?;
    }
    d.set_item("failures", failures)?;
    Ok(d)
}

/// A streamed flush's report, with its write under `write`.
fn streamed<'py>(py: Python<'py>, s: &Streamed, ranks: i32) -> PyResult<Bound<'py, PyDict>> {
    let d = report(py, &s.flush)?;
    d.set_item("write", summary(py, &s.write, ranks)?)?;
    Ok(d)
}

thread_local! {
    /// A `KeyboardInterrupt` or `SystemExit` a recorder raised: the flush goes on on every
    /// rank, and then raises it.
    static INTERRUPTED: std::cell::RefCell<Option<PyErr>> = const { std::cell::RefCell::new(None) };
}

/// The interruption a recorder raised during the last flush, if any.
fn take_interruption() -> Option<PyErr> {
    INTERRUPTED.with(|i| i.borrow_mut().take())
}

/// Runs the Python `flush(ctx)` of a recorder: what it appended is kept even when it raises.
fn run_python_recorder(flush: &Py<PyAny>, ctx: &mut FlushContext<'_>) -> Result<(), RecorderError> {
    Python::attach(|py| {
        let py_ctx = Py::new(py, PyFlushContext::new(ctx)).map_err(|e| e.to_string())?;
        let outcome = flush.call1(py, (py_ctx.clone_ref(py),));
        py_ctx.borrow_mut(py).drain_into(ctx);
        outcome.map(drop).map_err(|e| {
            let name = e.get_type(py).name().map_or_else(|_| "Exception".to_owned(), |n| n.to_string());
            let message = format!("{name}: {}", e.value(py));
            if e.is_instance_of::<pyo3::exceptions::PyKeyboardInterrupt>(py) || e.is_instance_of::<pyo3::exceptions::PySystemExit>(py) {
                INTERRUPTED.with(|i| {
                    i.borrow_mut().get_or_insert(e);
                });
            }
            message.into()
        })
    })
}

/// Warns `Recorder errored out! ...` through Python's `warnings`; where warnings are
/// errors, reports it as unraisable instead (the flush must go on on every rank).
fn warn(failure: &bsb_results::RecorderFailure) {
    Python::attach(|py| {
        let warned = py.import("warnings").and_then(|w| w.call_method1("warn", (failure.to_string(), py.get_type::<pyo3::exceptions::PyUserWarning>(), 2)));
        if let Err(e) = warned {
            e.write_unraisable(py, None);
        }
    });
}

impl PySimulationResult {
    fn buffered(&mut self) -> PyResult<&mut SimulationResult> {
        match &mut self.state {
            State::Buffered(r) => Ok(r),
            State::Streaming(_) => Err(usage("the result is streaming into a file: close the stream first")),
            State::Lost => Err(usage("the result was consumed by a stream() that failed to open its file")),
        }
    }

    fn result(&self) -> PyResult<&SimulationResult> {
        match &self.state {
            State::Buffered(r) => Ok(r),
            State::Streaming(s) => Ok(s.result()),
            State::Lost => Err(usage("the result was consumed by a stream() that failed to open its file")),
        }
    }

    fn result_mut(&mut self) -> PyResult<&mut SimulationResult> {
        match &mut self.state {
            State::Buffered(r) => Ok(r),
            State::Streaming(s) => Ok(s.result_mut()),
            State::Lost => Err(usage("the result was consumed by a stream() that failed to open its file")),
        }
    }

    /// Flushes until `t_stop_ms` (or the run's end), writing it when streaming; then
    /// raises a `KeyboardInterrupt` or `SystemExit` that a recorder raised.
    fn flush_state<'py>(&mut self, py: Python<'py>, t_stop_ms: Option<f64>, state: &serde_json::Value) -> PyResult<Bound<'py, PyDict>> {
        let done = self.flush_collective(py, t_stop_ms, state);
        match take_interruption() {
            Some(interruption) => Err(interruption),
            None => done,
        }
    }

    fn flush_collective<'py>(&mut self, py: Python<'py>, t_stop_ms: Option<f64>, state: &serde_json::Value) -> PyResult<Bound<'py, PyDict>> {
        let ranks = self.result()?.size();
        match &mut self.state {
            State::Streaming(stream) => {
                let done = OnThisThread(stream).run(py, |s| match t_stop_ms {
                    Some(t) => s.flush_until(t, state),
                    None => s.flush(),
                });
                streamed(py, &done.or_raise()?, ranks)
            }
            _ => {
                let result = self.buffered()?;
                let done = OnThisThread(result).run(py, |r| match t_stop_ms {
                    Some(t) => r.flush_until(t, state),
                    None => r.flush(),
                });
                report(py, &done.or_raise()?)
            }
        }
    }

    /// Closes the stream: the final provenance is written and the result buffers again.
    fn close_stream<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let State::Streaming(stream) = std::mem::replace(&mut self.state, State::Lost) else {
            return Err(usage("the result is not streaming"));
        };
        let ranks = stream.result().size();
        self.streaming_to = None;
        let (result, totals) = OnThisThread(stream).run(py, StreamingResult::close).or_raise()?;
        self.state = State::Buffered(result);
        summary(py, &totals, ranks)
    }
}

#[pymethods]
impl PySimulationResult {
    /// A result for the run `name` on every rank of `comm`.
    #[new]
    #[pyo3(signature = (name, config=None, comm=None, *, duration_ms=None, resolution_ms=None, seed=None))]
    fn new(
        py: Python<'_>,
        name: &str,
        config: Option<&Bound<'_, PyAny>>,
        comm: Option<&Bound<'_, PyAny>>,
        duration_ms: Option<f64>,
        resolution_ms: Option<f64>,
        seed: Option<u64>,
    ) -> PyResult<Self> {
        let config = json_in(config, "config")?;
        let comm = comm::communicator(py, comm)?;
        let info = RunInfo { seed, duration_ms, resolution_ms, ..RunInfo::default() };
        let made = OnThisThread((comm, config)).run(py, |(comm, config)| SimulationResult::new(&*comm, name, config, info));
        let mut result = made.or_raise()?;
        result.on_recorder_failure(warn);
        Ok(PySimulationResult { state: State::Buffered(result), streaming_to: None })
    }

    /// The run's name.
    #[getter]
    fn name(&self) -> PyResult<String> {
        Ok(self.result()?.name().to_owned())
    }
    /// The run's id, the same on every rank.
    #[getter]
    fn simulation_id(&self) -> PyResult<String> {
        Ok(self.result()?.simulation_id().to_owned())
    }
    /// This rank.
    #[getter]
    fn rank(&self) -> PyResult<i32> {
        Ok(self.result()?.rank())
    }
    /// The number of ranks.
    #[getter]
    fn size(&self) -> PyResult<i32> {
        Ok(self.result()?.size())
    }
    /// The configuration, as a dict.
    #[getter]
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_out(py, self.result()?.config())
    }
    /// The provenance, as it will be written.
    #[getter]
    fn provenance<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_out(py, &serde_json::from_str(&self.result()?.provenance().to_json_string()).unwrap_or_default())
    }
    /// The path the result streams into, or `None`.
    #[getter]
    fn streaming(&self) -> Option<String> {
        self.streaming_to.as_ref().map(|p| p.display().to_string())
    }

    /// Records the simulator in the provenance (call it alike on every rank).
    #[pyo3(signature = (name, version=None, **extra))]
    fn set_simulator(&mut self, name: &str, version: Option<&str>, extra: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
        let extra = match json_in(extra.map(|d| d.as_any()), "extra")? {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        self.result_mut()?.set_simulator(name, version, extra);
        Ok(())
    }

    /// Adds a plugin to the provenance.
    #[pyo3(signature = (category, entry, package, version=None))]
    fn register_plugin(&mut self, category: &str, entry: &str, package: &str, version: Option<&str>) -> PyResult<()> {
        self.result_mut()?.register_plugin(category, entry, package, version);
        Ok(())
    }

    /// Registers `flush(ctx)` as the recorder of `device` on this rank.
    #[pyo3(signature = (flush, device, kind=None, meta=None, *, stimulating=false))]
    fn create_recorder(&mut self, flush: Py<PyAny>, device: &str, kind: Option<&str>, meta: Option<&Bound<'_, PyAny>>, stimulating: bool) -> PyResult<()> {
        Python::attach(|py| {
            if !flush.bind(py).is_callable() {
                return Err(pyo3::exceptions::PyTypeError::new_err("flush must be callable: flush(ctx)"));
            }
            Ok(())
        })?;
        let meta: Meta = match json_in(meta, "meta")? {
            serde_json::Value::Object(map) => map.into_iter().collect(),
            _ => Meta::new(),
        };
        let mut dev = Device::new(device, kind.unwrap_or("python_recorder"));
        if stimulating {
            dev = dev.stimulating();
        }
        self.result_mut()?.create_recorder(dev, meta, move |ctx| run_python_recorder(&flush, ctx)).or_raise()?;
        Ok(())
    }

    /// Sets `started_at` on every rank (collective).
    #[pyo3(signature = (started_at=None))]
    fn mark_started(&mut self, py: Python<'_>, started_at: Option<&str>) -> PyResult<()> {
        OnThisThread(self.result_mut()?).run(py, |r| r.mark_started(started_at)).or_raise()
    }

    /// Sets `finished_at` and `wall_seconds` on every rank (collective).
    #[pyo3(signature = (finished_at=None, wall_seconds=None))]
    fn mark_finished(&mut self, py: Python<'_>, finished_at: Option<&str>, wall_seconds: Option<f64>) -> PyResult<()> {
        OnThisThread(self.result_mut()?).run(py, |r| r.mark_finished(finished_at, wall_seconds)).or_raise()
    }

    /// Flushes a checkpoint (collective): until `t_stop_ms`, or the run's duration.
    #[pyo3(signature = (t_stop_ms=None, simulator_state=None))]
    fn flush<'py>(&mut self, py: Python<'py>, t_stop_ms: Option<f64>, simulator_state: Option<&Bound<'_, PyAny>>) -> PyResult<Bound<'py, PyDict>> {
        let state = json_in(simulator_state, "simulator_state")?;
        self.flush_state(py, t_stop_ms, &state)
    }

    /// Flushes a checkpoint that reached `t_stop_ms` (collective).
    #[pyo3(signature = (t_stop_ms, simulator_state=None))]
    fn flush_until<'py>(&mut self, py: Python<'py>, t_stop_ms: f64, simulator_state: Option<&Bound<'_, PyAny>>) -> PyResult<Bound<'py, PyDict>> {
        let state = json_in(simulator_state, "simulator_state")?;
        self.flush_state(py, Some(t_stop_ms), &state)
    }

    /// Writes every rank's buffered checkpoints into one file (collective).
    #[pyo3(signature = (path, mode="ow", *, share_properties=true, mpio_hints=None, io="collective"))]
    fn write<'py>(
        &mut self,
        py: Python<'py>,
        path: PathBuf,
        mode: &str,
        share_properties: bool,
        mpio_hints: Option<Vec<(String, String)>>,
        io: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (mode, options) = (self::mode(mode)?, write_options(share_properties, mpio_hints, io)?);
        let result = self.buffered()?;
        let ranks = result.size();
        let written = OnThisThread(result).run(py, |r| r.write_with(&path, mode, &options));
        summary(py, &written.or_raise()?, ranks)
    }

    /// Streams every flush from now on into `path` (collective); returns the stream.
    #[pyo3(signature = (path, mode="ow", *, share_properties=true, mpio_hints=None, io="collective"))]
    fn stream(
        slf: Bound<'_, Self>,
        path: PathBuf,
        mode: &str,
        share_properties: bool,
        mpio_hints: Option<Vec<(String, String)>>,
        io: &str,
    ) -> PyResult<PyStream> {
        let py = slf.py();
        let (mode, options) = (self::mode(mode)?, write_options(share_properties, mpio_hints, io)?);
        let mut this = slf.borrow_mut();
        this.buffered()?;
        let State::Buffered(result) = std::mem::replace(&mut this.state, State::Lost) else { unreachable!("checked above") };
        let target = path.clone();
        let stream = OnThisThread(result).run(py, move |r| r.stream_with(&target, mode, options)).or_raise()?;
        this.state = State::Streaming(stream);
        this.streaming_to = Some(path);
        drop(this);
        Ok(PyStream { result: slf.unbind() })
    }

    fn __repr__(&self) -> String {
        match self.result() {
            Ok(r) => format!("SimulationResult(name={:?}, simulation_id={:?}, rank={}, size={})", r.name(), r.simulation_id(), r.rank(), r.size()),
            Err(_) => "SimulationResult(<lost>)".into(),
        }
    }
}

/// A result streaming its flushes into a file; a context manager that closes it.
#[pyclass(name = "Stream", module = "bsb_results", unsendable)]
pub(crate) struct PyStream {
    result: Py<PySimulationResult>,
}

#[pymethods]
impl PyStream {
    /// The result being streamed.
    #[getter]
    fn result(&self, py: Python<'_>) -> Py<PySimulationResult> {
        self.result.clone_ref(py)
    }

    /// Flushes a checkpoint until the run's duration and writes it (collective).
    #[pyo3(signature = (simulator_state=None))]
    fn flush<'py>(&self, py: Python<'py>, simulator_state: Option<&Bound<'_, PyAny>>) -> PyResult<Bound<'py, PyDict>> {
        let state = json_in(simulator_state, "simulator_state")?;
        self.result.borrow_mut(py).flush_state(py, None, &state)
    }

    /// Flushes a checkpoint that reached `t_stop_ms` and writes it (collective).
    #[pyo3(signature = (t_stop_ms, simulator_state=None))]
    fn flush_until<'py>(&self, py: Python<'py>, t_stop_ms: f64, simulator_state: Option<&Bound<'_, PyAny>>) -> PyResult<Bound<'py, PyDict>> {
        let state = json_in(simulator_state, "simulator_state")?;
        self.result.borrow_mut(py).flush_state(py, Some(t_stop_ms), &state)
    }

    /// Marks the run finished (unless it was) and writes the final provenance (collective);
    /// returns the totals of every write.
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.result.borrow_mut(py).close_stream(py)
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// Closes the stream; an error while closing does not hide the exception that left the
    /// `with` block.
    #[pyo3(signature = (exc_type=None, _exc_value=None, _traceback=None))]
    fn __exit__(&self, py: Python<'_>, exc_type: Option<&Bound<'_, PyAny>>, _exc_value: Option<&Bound<'_, PyAny>>, _traceback: Option<&Bound<'_, PyAny>>) -> PyResult<bool> {
        if self.result.borrow(py).streaming_to.is_none() {
            return Ok(false);
        }
        let closed = self.close(py);
        match (closed, exc_type.filter(|t| !t.is_none())) {
            (Err(e), None) => Err(e),
            _ => Ok(false),
        }
    }
}
