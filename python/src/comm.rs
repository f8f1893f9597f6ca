//! The communicator of a run: mpi4py's, or MPI's world when this module initialized MPI.
//!
//! Under mpi4py, mpi4py initialized MPI and finalizes it at exit; this module borrows the
//! communicator the user passes (never freeing it) and each result duplicates it. Without
//! mpi4py, this module initializes MPI itself (a singleton run, or ranks launched by
//! `mpirun` without mpi4py) and finalizes it when Python exits ([`finalize`], registered
//! with `atexit` by the package).

use std::mem::ManuallyDrop;
use std::sync::Mutex;

use mpi::environment::Universe;
use mpi::ffi;
use mpi::topology::SimpleCommunicator;
use mpi::traits::FromRaw;
use pyo3::prelude::*;

use crate::errors::invalid;

/// The universe when this module initialized MPI; dropping it finalizes MPI.
static UNIVERSE: Mutex<Option<Universe>> = Mutex::new(None);

/// A communicator the result duplicates; never freed here (mpi4py owns it, or it is MPI's
/// world).
pub(crate) struct Borrowed(ManuallyDrop<SimpleCommunicator>);

impl std::ops::Deref for Borrowed {
    type Target = SimpleCommunicator;
    fn deref(&self) -> &SimpleCommunicator {
        &self.0
    }
}

/// The communicator of `comm`: an mpi4py communicator, or `None` for mpi4py's
/// `COMM_WORLD` when mpi4py is installed and MPI's world (initialized here) when not.
pub(crate) fn communicator(py: Python<'_>, comm: Option<&Bound<'_, PyAny>>) -> PyResult<Borrowed> {
    let comm = match comm.filter(|c| !c.is_none()) {
        Some(c) => Some(c.clone()),
        None => match py.import("mpi4py.MPI") {
            Ok(mpi4py) => Some(mpi4py.getattr("COMM_WORLD")?),
            Err(e) if e.is_instance_of::<pyo3::exceptions::PyModuleNotFoundError>(py) => None,
            Err(e) => return Err(e),
        },
    };
    let Some(comm) = comm else {
        initialize();
        return Ok(Borrowed(ManuallyDrop::new(SimpleCommunicator::world())));
    };
    let mpi4py = py.import("mpi4py.MPI")?;
    if !comm.is_instance(&mpi4py.getattr("Intracomm")?)? {
        let type_name = comm.get_type().name()?;
        return Err(pyo3::exceptions::PyTypeError::new_err(format!("comm must be an mpi4py intracommunicator (MPI.Intracomm), not {type_name}")));
    }
    if comm.eq(mpi4py.getattr("COMM_NULL")?)? {
        return Err(invalid("comm", "it is MPI.COMM_NULL"));
    }
    let handle: usize = mpi4py.getattr("_handleof")?.call1((&comm,))?.extract()?;
    let raw = ffi::MPI_Comm(handle as *mut ffi::ompi_communicator_t);
    // SAFETY: `raw` is the live intracommunicator handle of an mpi4py communicator (checked
    // above: an `Intracomm`, not `COMM_NULL`), which mpi4py keeps alive while `comm` is
    // referenced; the wrapper is never dropped, so this module never frees mpi4py's handle.
    // MPI's world is taken as rsmpi's own world handle, which rsmpi never frees either.
    let simple = if raw == unsafe { ffi::RSMPI_COMM_WORLD } { SimpleCommunicator::world() } else { unsafe { SimpleCommunicator::from_raw(raw) } };
    Ok(Borrowed(ManuallyDrop::new(simple)))
}

/// Initializes MPI unless something (mpi4py, a simulator) already did.
fn initialize() {
    if !mpi::environment::is_initialized() {
        let universe = mpi::initialize();
        *UNIVERSE.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = universe;
    }
}

/// Finalizes MPI if this module initialized it (the package registers it with `atexit`).
#[pyfunction]
pub(crate) fn finalize() {
    let universe = UNIVERSE.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
    drop(universe);
}

/// Whether MPI is finalized: results alive after that leak their communicator rather than
/// free it (freeing it then would abort).
pub(crate) fn finalized() -> bool {
    mpi::environment::is_finalized()
}

/// The version string of the MPI library this module is linked with (callable before
/// MPI is initialized), to compare with mpi4py's.
#[pyfunction]
pub(crate) fn mpi_library_version() -> String {
    mpi::environment::library_version().unwrap_or_default()
}
