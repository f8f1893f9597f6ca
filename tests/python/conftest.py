"""Shared fixtures of the Python package's tests. Every test runs on every rank (the
tests run as a plain process and under mpirun -n 1, 2 and 4) and calls the collective
methods alike on all ranks; checks that read files run on rank 0 through `on_root`, which
hands rank 0's outcome to every rank so that all pass or fail together."""

import os
import shutil
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "neo"))
os.environ.setdefault("BSB_IGNORE_PARALLEL", "1")

from mpi4py import MPI  # noqa: E402

COMM = MPI.COMM_WORLD


@pytest.fixture
def comm():
    return COMM


@pytest.fixture
def shared_dir():
    """A directory every rank sees (made on rank 0), removed after the test."""
    path = COMM.bcast(tempfile.mkdtemp(prefix="bsb-py-") if COMM.rank == 0 else None)
    yield path
    COMM.barrier()
    if COMM.rank == 0:
        shutil.rmtree(path, ignore_errors=True)


def on_root(check):
    """Runs `check()` on rank 0 and returns its value on every rank; an exception on rank 0
    is raised on every rank (as an AssertionError elsewhere)."""
    outcome = None
    if COMM.rank == 0:
        try:
            outcome = ("ok", check())
        except BaseException as e:  # noqa: BLE001 - handed to every rank
            outcome = ("error", e)
    kind, value = COMM.bcast(outcome if COMM.rank == 0 else None)
    if kind == "error":
        if COMM.rank == 0:
            raise value
        raise AssertionError(f"rank 0 failed: {value!r}")
    return value


def binary():
    """The `bsb-results` command line built in this repository."""
    path = os.environ.get("BSB_RESULTS_BIN", os.path.join(ROOT, "target", "release", "bsb-results"))
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: build it with cargo build --release")
    return path


def plain_env():
    """The environment without the MPI launcher's variables, so a child process started
    from a rank runs as its own singleton."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMIX_", "PRTE_", "OPAL_", "HYDRA_", "PMI_"))}
