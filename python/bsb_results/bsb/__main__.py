"""`python -m bsb_results.bsb simulate NETWORK.hdf5 SIM -o OUT.nio [--stream]`: runs a
simulation of a compiled BSB network as `bsb simulate` does, with its results written by
bsb-results into OUT.nio (a file that exists gets the run as one more Block). Run it
under `mpirun -n N` for N ranks."""
import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bsb_results.bsb", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    simulate = commands.add_parser("simulate", help="run a simulation, results written by bsb-results")
    simulate.add_argument("network", help="the compiled network (bsb compile's HDF5 file)")
    simulate.add_argument("simulation", help="the simulation's name in the network's configuration")
    simulate.add_argument("-o", "--output", required=True, help="the results file (.nio)")
    simulate.add_argument("--stream", action="store_true", help="write each checkpoint as it is flushed")
    args = parser.parse_args(argv)

    from bsb import from_storage

    from . import install

    install(streaming=args.stream)
    network = from_storage(args.network)
    if args.simulation not in network.simulations:
        names = ", ".join(repr(n) for n in network.simulations)
        parser.error(f"'{args.network}' has no simulation {args.simulation!r}; it has {names}")
    network.run_simulation(args.simulation, output_filename=args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
