"""Compiles the test networks (and the 1,000-cell benchmark network) into a directory.

usage: network.py neuron|nest|neuron-CELLS OUT.hdf5

neuron-CELLS is the benchmark network: neuron-1000 is the one of the README's table.

Runs in the directory of OUT (BSB looks for simple.swc in the working directory).
"""
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def neuron_bench(config, cells):
    """CELLS HH cells, voltage at the 3 soma points of every cell, a current clamp on 4
    cells (3 points each) and the 4 synapses of each of 10 cells, 4,001 samples: at 1,000
    cells 3,052 recorded channels (98 MB of samples)."""
    config.cell_types.exc.spatial.count = cells
    config.connectivity.exc_to_exc.indegree = 4
    devices = config.simulations.nrn.devices
    devices.stim.targetting.ids = {"exc": list(range(4))}
    devices.synrec.targetting.ids = {"exc": list(range(10))}


def main():
    kind, out = sys.argv[1], os.path.abspath(sys.argv[2])
    from bsb import Scaffold, parse_configuration_file

    directory = os.path.dirname(out)
    os.makedirs(directory, exist_ok=True)
    shutil.copy(os.path.join(HERE, "simple.swc"), directory)
    os.chdir(directory)
    source = "nest_network.json" if kind == "nest" else "neuron_network.json"
    config = parse_configuration_file(os.path.join(HERE, source))
    if kind.startswith("neuron-"):
        neuron_bench(config, int(kind.split("-", 1)[1]))
    config.storage.root = out
    Scaffold(config).compile(clear=True)


if __name__ == "__main__":
    main()
