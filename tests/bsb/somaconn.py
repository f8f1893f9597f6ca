"""FixedIndegree with every connection on the soma (branch 0, point 0).

BSB 8.0.2's FixedIndegree stores its locations at branch/point -1, which arborize (the
NEURON adapter's cell builder) rejects; the test networks name this strategy instead.
"""
from bsb import config
from bsb.connectivity import FixedIndegree


@config.node
class SomaFixedIndegree(FixedIndegree):
    def connect_cells(self, pre_set, post_set, src_locs, dest_locs, tag=None):
        src_locs[:, 1:] = 0
        dest_locs[:, 1:] = 0
        super().connect_cells(pre_set, post_set, src_locs, dest_locs, tag=tag)
