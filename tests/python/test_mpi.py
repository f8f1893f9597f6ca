"""The package and MPI: it refuses an mpi4py that uses another MPI library, and without
mpi4py it runs as one rank, initializing and finalizing MPI itself. Each case runs in a
child process of rank 0 (outside the launcher's job, as a plain process)."""

import os
import subprocess
import sys

import bsb_results as br
from conftest import on_root, plain_env

# Hides mpi4py, as in an environment where it is not installed.
WITHOUT_MPI4PY = """
import sys
class Hide:
    def find_spec(self, name, path=None, target=None):
        if name == "mpi4py" or name.startswith("mpi4py."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Hide())
"""


def child(code):
    return subprocess.run([sys.executable, "-c", code], env=plain_env(), capture_output=True, text=True, timeout=120)


def test_the_extension_and_mpi4py_share_one_mpi_library():
    from mpi4py import MPI

    assert br.mpi_library_version().strip() == MPI.Get_library_version().strip()


def test_an_mpi4py_of_another_mpi_library_is_refused():
    def check():
        done = child("from mpi4py import MPI\nMPI.Get_library_version = lambda: 'MPICH Version: 4.1'\nimport bsb_results")
        assert done.returncode != 0
        assert "ImportError: bsb_results and mpi4py use different MPI libraries" in done.stderr, done.stderr
        assert "MPICH Version: 4.1" in done.stderr and "Rebuild mpi4py" in done.stderr
    on_root(check)


def test_without_mpi4py_a_script_runs_as_one_rank_and_exits_cleanly(shared_dir):
    path = os.path.join(shared_dir, "alone.nio")
    code = WITHOUT_MPI4PY + f"""
import bsb_results as br
result = br.SimulationResult("alone", {{}}, duration_ms=10.0)
result.create_recorder(lambda ctx: ctx.spike_train("p", 1, "m", [1.0, 2.0]), device="d", kind="k")
result.flush()
print(result.size, result.write({path!r})["objects"])
kept = result  # alive at exit: freed after MPI is finalized, which must not abort
"""

    def check():
        done = child(code)
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["1", "1"]
        assert br.read_nio(path).segments[0].spiketrains[0].times.tolist() == [1.0, 2.0]
    on_root(check)
