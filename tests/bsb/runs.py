"""Launching real BSB runs for the tests and the benchmark: the environment BSB 8.0.2's
NEURON and NEST stacks need here, compiling a test network, and running a simulation with
BSB's result or ours, as one process or under mpirun.

The environment (see scripts/requirements-bsb.txt and requirements-nest.txt):
- the venv's bin on PATH: glia compiles NEURON mechanisms with its nrnivmodl;
- GLIA_NOLOAD=1: glia looks for the library where NEURON 9 does not put it (hh, pas and
  ExpSyn are built in);
- this directory on PYTHONPATH: the networks connect cells with somaconn.SomaFixedIndegree;
- .venv/nest on PYTHONPATH for NEST runs only (its wheel is serial and exits under mpirun).
"""
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PYTHON = sys.executable
VENV = os.path.dirname(os.path.dirname(PYTHON))


def env(nest=False):
    e = dict(os.environ)
    e["PATH"] = os.path.dirname(PYTHON) + os.pathsep + e.get("PATH", "")
    paths = [HERE] + ([os.path.join(VENV, "nest")] if nest else [])
    e["PYTHONPATH"] = os.pathsep.join(paths + [p for p in [e.get("PYTHONPATH")] if p])
    e["GLIA_NOLOAD"] = "1"
    e.pop("BSB_IGNORE_PARALLEL", None)
    if os.getuid() == 0:
        e.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    return e


def mpirun(ranks):
    """The launcher for `ranks` ranks (None: a plain process), forwarding the environment."""
    if not ranks:
        return []
    return ["mpirun", "--oversubscribe", "-n", str(ranks), "-x", "PATH", "-x", "PYTHONPATH", "-x", "GLIA_NOLOAD"]


def run(cmd, nest=False, timeout=900, expect=0):
    """Runs a command in the BSB environment; raises with its output's tail when it does
    not exit with `expect`."""
    done = subprocess.run(cmd, env=env(nest), capture_output=True, text=True, timeout=timeout)
    if done.returncode != expect:
        raise RuntimeError(f"{' '.join(cmd)} exited with {done.returncode}, expected {expect}:\n"
                           f"{(done.stdout + done.stderr)[-3000:]}")
    return done


def compile_network(kind, out):
    """Compiles `kind` (neuron, nest, neuron-CELLS) into `out` unless it is there already."""
    if not os.path.exists(out):
        run([PYTHON, os.path.join(HERE, "network.py"), kind, out], nest=kind == "nest")
    return out


def simulate(network, simulation, out, result="bsb", ranks=None, nest=False, extra=(), expect=0):
    """Runs run_sim.py; returns every rank's seconds and the whole launch's wall seconds
    (None when the run was meant to die)."""
    timing = out + ".timing.json"
    cmd = mpirun(ranks) + [PYTHON, os.path.join(HERE, "run_sim.py"), network, simulation, out,
                           "--result", result, "--timing", timing, *extra]
    start = time.perf_counter()
    run(cmd, nest=nest, expect=expect)
    wall = time.perf_counter() - start
    if expect:
        return None
    with open(timing) as f:
        ranks_seconds = json.load(f)
    os.remove(timing)
    return {"ranks": ranks_seconds, "wall": wall}


def cli(network, simulation, out, ranks=None, nest=False):
    """`python -m bsb_results.bsb simulate NETWORK SIM -o OUT`, as a user runs it."""
    run(mpirun(ranks) + [PYTHON, "-m", "bsb_results.bsb", "simulate", network, simulation, "-o", out], nest=nest)


def check(network, reference, candidate, ranks, runs=1, nest=False, hook=False):
    """check.py's verdict: (passed, last lines of its output)."""
    cmd = [PYTHON, os.path.join(HERE, "check.py"), network, reference, candidate, "--ranks", str(ranks),
           "--runs", str(runs)] + (["--hook"] if hook else [])
    done = subprocess.run(cmd, env=env(nest), capture_output=True, text=True)
    if done.returncode == 0:
        return True, done.stdout.strip().splitlines()[-1]
    return False, "\n".join((done.stdout + done.stderr).strip().splitlines()[-8:])
