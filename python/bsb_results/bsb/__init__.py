"""bsb-results for BSB 8.0.2: a simulation's results written by the native writer, one
collective write of every rank into one file, with no per-rank parts and no merge.

Three ways to switch it on:

- in the configuration, with no code: the `after_prepare` hook
  ``"after_prepare": {"native": {"strategy": "bsb_results.bsb.NativeResults"}}``;
- in a script: ``bsb_results.bsb.install()`` before the simulation runs;
- from the shell: ``python -m bsb_results.bsb simulate NETWORK.hdf5 SIM -o OUT.nio``
  (also under ``mpirun``).

Better than BSB's own result: the provenance lists every rank's host, a run into an
existing file adds a run with the next `run_index` under MPI as on one process, and with
`streaming` each flush is committed to the file as it happens.
"""
from ._hook import NativeResults
from ._install import install, native_class
from ._result import NativeResult

__all__ = ["NativeResult", "NativeResults", "install", "native_class"]
