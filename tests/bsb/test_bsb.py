#!/usr/bin/env python3
"""Real BSB 8.0.2 simulations, each run with BSB's own result and with bsb_results.bsb's,
compared by check.py (every target's data and annotations through BSB's iter_recordings,
read_results, provenance with every rank's host, no `.ranks` directory left):

- the NEURON network (voltage, current-clamp and synapse recorders) as one process and
  under mpirun -n 2;
- the NEST network (spike recorder, multimeter, Poisson input) as one process (NEST's
  wheel is serial);
- all three ways of switching ours on: install() (run_sim.py --result install, and the
  README's example examples/bsb/simulate.py), the after_prepare hook in the configuration
  (--result hook), and python -m bsb_results.bsb simulate; a second CLI run into the same
  file under mpirun adds run_index 1;
- results kept in memory (no filename) and written by result.write() under mpirun, one
  collective write (BSB's in-memory write has every rank write the same file);
- streaming: a run whose ranks all die after the flush, before finalize, leaves a file
  with everything flushed.

usage: test_bsb.py WORKDIR
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import runs  # noqa: E402

FAILED = []


def verdict(label, network, reference, candidate, ranks, nest=False, **kw):
    ok, message = runs.check(network, reference, candidate, ranks, nest=nest, **kw)
    print(f"{'ok  ' if ok else 'FAIL'} {label}: {message.splitlines()[-1] if ok else ''}", flush=True)
    if not ok:
        print(message)
        FAILED.append(label)


def neuron(work, ranks):
    network = runs.compile_network("neuron", os.path.join(work, "neuron.hdf5"))
    tag = f"neuron{ranks or 1}"
    where = "1 process" if ranks is None else f"mpirun -n {ranks}"
    out = lambda name: os.path.join(work, f"{tag}-{name}.nio")  # noqa: E731
    runs.simulate(network, "nrn", out("bsb"), "bsb", ranks)
    runs.simulate(network, "nrn", out("install"), "install", ranks)
    verdict(f"NEURON, {where}, install()", network, out("bsb"), out("install"), ranks or 1)
    runs.simulate(network, "nrn", out("hook"), "hook", ranks)
    verdict(f"NEURON, {where}, after_prepare hook", network, out("bsb"), out("hook"), ranks or 1, hook=True)
    if ranks:
        runs.cli(network, "nrn", out("cli"), ranks)
        runs.cli(network, "nrn", out("cli"), ranks)
        verdict(f"NEURON, {where}, python -m bsb_results.bsb simulate, twice into one file", network, out("bsb"),
                out("cli"), ranks, runs=2)
        runs.run(runs.mpirun(ranks) + [runs.PYTHON, os.path.join(runs.ROOT, "examples", "bsb", "simulate.py"), network,
                                         "nrn", out("example")])
        verdict(f"NEURON, {where}, examples/bsb/simulate.py", network, out("bsb"), out("example"), ranks)
        runs.simulate(network, "nrn", out("memory"), "install", ranks, extra=["--in-memory"])
        verdict(f"NEURON, {where}, results in memory, then write()", network, out("bsb"), out("memory"), ranks)
        runs.simulate(network, "nrn", out("killed"), "install", ranks, extra=["--stream", "--kill-before-finalize"],
                      expect=3)
        verdict(f"NEURON, {where}, streaming, every rank killed before finalize", network, out("bsb"), out("killed"),
                ranks)


def nest(work):
    network = runs.compile_network("nest", os.path.join(work, "nest.hdf5"))
    out = lambda name: os.path.join(work, f"nest-{name}.nio")  # noqa: E731
    runs.simulate(network, "basal", out("bsb"), "bsb", nest=True)
    runs.simulate(network, "basal", out("install"), "install", nest=True)
    verdict("NEST, 1 process, install()", network, out("bsb"), out("install"), 1, nest=True)
    runs.simulate(network, "basal", out("hook"), "hook", nest=True)
    verdict("NEST, 1 process, after_prepare hook", network, out("bsb"), out("hook"), 1, nest=True, hook=True)
    runs.cli(network, "basal", out("cli"), nest=True)
    verdict("NEST, 1 process, python -m bsb_results.bsb simulate", network, out("bsb"), out("cli"), 1, nest=True)


def main():
    work = os.path.abspath(sys.argv[1])
    os.makedirs(work, exist_ok=True)
    neuron(work, None)
    neuron(work, 2)
    nest(work)
    if FAILED:
        sys.exit(f"{len(FAILED)} BSB checks failed: {', '.join(FAILED)}")
    print("BSB 8.0.2 runs with bsb_results.bsb: all equal to BSB's own")


if __name__ == "__main__":
    main()
