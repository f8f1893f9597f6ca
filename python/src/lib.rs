//! `bsb_results._native`: the Python bindings of the `bsb-results` library (PyO3).
//!
//! The public package is `bsb_results` (python/bsb_results/), which re-exports what is
//! here; the library itself stays free of Python.
//!
//! | module | what it holds |
//! | --- | --- |
//! | `comm` | the run's communicator: mpi4py's, or MPI initialized here |
//! | `writing` | `SimulationResult` and `Stream` |
//! | `block` | `BlockWriter`: a Block written as Python built it (`bsb_results.bsb`) |
//! | `context` | `FlushContext`, what a Python recorder fills |
//! | `common` | name, start and annotations, applied to any object's builder in one place |
//! | `reading` | `read_nio`, `iter_recordings`, `NioFile`, `plot` |
//! | `convert` | numpy arrays, annotation values and JSON across the boundary |
//! | `errors` | the library's errors as the `bsb_results` exception hierarchy |

mod block;
mod comm;
mod common;
mod context;
mod convert;
mod errors;
mod reading;
mod writing;

use pyo3::prelude::*;

/// Spike times of a Poisson process on the `resolution_ms` grid in `(t_start, t_stop]`,
/// drawn from the generator seeded by `words`: the activity `bsb-results simulate` records.
#[pyfunction]
fn synthetic_poisson<'py>(py: Python<'py>, words: Vec<u64>, rate_hz: f64, resolution_ms: f64, t_start: f64, t_stop: f64) -> Bound<'py, numpy::PyArray1<f64>> {
    use bsb_results::synthetic::{Rng, poisson};
    convert::array(py, poisson(Rng::new(&words), rate_hz, resolution_ms, t_start, t_stop))
}

/// A membrane-like trace of `n` samples (mV) from the generator seeded by `words`.
#[pyfunction]
fn synthetic_trace<'py>(py: Python<'py>, words: Vec<u64>, n: usize) -> Bound<'py, numpy::PyArray1<f64>> {
    use bsb_results::synthetic::{Rng, trace};
    convert::array(py, trace(Rng::new(&words), n))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<writing::PySimulationResult>()?;
    m.add_class::<writing::PyStream>()?;
    m.add_class::<block::PyBlockWriter>()?;
    m.add_class::<context::PyFlushContext>()?;
    m.add_class::<reading::PyNioFile>()?;
    m.add_class::<reading::PyListed>()?;
    m.add_function(wrap_pyfunction!(reading::read_nio, m)?)?;
    m.add_function(wrap_pyfunction!(reading::read_nio_all, m)?)?;
    m.add_function(wrap_pyfunction!(reading::iter_recordings, m)?)?;
    m.add_function(wrap_pyfunction!(reading::plot, m)?)?;
    m.add_function(wrap_pyfunction!(comm::finalize, m)?)?;
    m.add_function(wrap_pyfunction!(comm::mpi_library_version, m)?)?;
    m.add_function(wrap_pyfunction!(synthetic_poisson, m)?)?;
    m.add_function(wrap_pyfunction!(synthetic_trace, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
