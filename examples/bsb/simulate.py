"""Runs a simulation of a compiled BSB 8.0.2 network with its results written by
bsb-results: one collective write of every rank into one file, no part files, no merge.

    python examples/bsb/simulate.py network.hdf5 nrn run.nio
    mpirun -n 2 python examples/bsb/simulate.py network.hdf5 nrn run.nio
"""
import sys

import bsb_results.bsb
from bsb import from_storage

network_file, simulation, out = sys.argv[1:4]
bsb_results.bsb.install()  # every BSB adapter in this process now writes natively
network = from_storage(network_file)
network.run_simulation(simulation, output_filename=out)
