"""Runs one simulation of a compiled BSB network, with BSB's result or ours; every rank
of an mpirun runs it.

usage: run_sim.py NETWORK.hdf5 SIM OUT.nio [--result bsb|install|hook] [--timing FILE]
                  [--stream] [--kill-before-finalize] [--in-memory]

--result bsb      BSB 8.0.2's own SimulationResult (per-rank parts, rank 0 merges)
--result install  bsb_results.bsb.install() before the run
--result hook     the after_prepare hook bsb_results.bsb.NativeResults added to the
                  simulation's configuration
--timing FILE     rank 0 writes every rank's seconds (run_simulation, result writing) as JSON
--stream          ours: each flush committed to the file as it happens
--kill-before-finalize
                  ours: every rank exits (status 3) when the run reaches finalize, after
                  its flush: what a run killed there leaves in the file
--in-memory       run without a filename (results kept in memory), then result.write(OUT)
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import timing  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("network")
    parser.add_argument("simulation")
    parser.add_argument("out")
    parser.add_argument("--result", choices=["bsb", "install", "hook"], default="bsb")
    parser.add_argument("--timing")
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--kill-before-finalize", action="store_true")
    parser.add_argument("--in-memory", action="store_true")
    args = parser.parse_args()

    from bsb import from_storage
    from mpi4py import MPI

    if args.result == "bsb":
        from bsb.simulation.results import SimulationResult

        timing.instrument(SimulationResult)
    else:
        import bsb_results.bsb as ours

        timing.instrument(ours.NativeResult)
        if args.result == "install":
            ours.install(streaming=args.stream)
        if args.kill_before_finalize:
            ours.NativeResult.finalize = lambda self: os._exit(3)
    network = from_storage(args.network)
    if args.result == "hook":
        network.simulations[args.simulation].after_prepare = {
            "native": {"strategy": "bsb_results.bsb.NativeResults", "streaming": args.stream}
        }
    MPI.COMM_WORLD.Barrier()
    start = time.perf_counter()
    if args.in_memory:
        network.run_simulation(args.simulation).write(args.out, "ow")
    else:
        network.run_simulation(args.simulation, output_filename=args.out)
    seconds = timing.summary()
    seconds["run_simulation"] = time.perf_counter() - start
    seconds["host"] = MPI.Get_processor_name()
    ranks = MPI.COMM_WORLD.gather(seconds)
    if args.timing and MPI.COMM_WORLD.Get_rank() == 0:
        with open(args.timing, "w") as f:
            json.dump(ranks, f)


if __name__ == "__main__":
    main()
