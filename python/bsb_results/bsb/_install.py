"""Making BSB's adapters construct `NativeResult`s: `native_class` for any BSB result
class, and `install`, which rebinds the result classes the adapters' modules name."""
import functools
import sys

from bsb.simulation.results import SimulationResult

from ._result import NativeResult


@functools.cache
def native_class(cls):
    """The bsb-results version of BSB's result class `cls`: `NativeResult` for BSB's
    own, and for a subclass (NEURON's `NeuronResult`, with its `record`) the subclass
    on top of `NativeResult`, so that its methods run unchanged and write natively."""
    if issubclass(cls, NativeResult):
        return cls
    if cls is SimulationResult:
        return NativeResult
    return type(f"Native{cls.__name__}", (cls, NativeResult), {"__module__": __name__})


def _rebind(module):
    """Points every BSB result class that `module` names at its native version."""
    for name, value in list(vars(module).items()):
        if isinstance(value, type) and issubclass(value, SimulationResult) and not issubclass(value, NativeResult):
            setattr(module, name, native_class(value))


def _patched(lookup):
    @functools.wraps(lookup)
    def adapters():
        found = lookup()
        for adapter in found.values():
            _rebind(sys.modules[adapter.__module__])
        return found

    adapters._bsb_results_native = True
    return adapters


def install(*, streaming=False):
    """Makes every BSB adapter in this process write its results with bsb-results: the
    adapter modules loaded now and those BSB loads later (NEST, NEURON, Arbor, ...).

    :param streaming: Write each checkpoint into the file as it is flushed.
    """
    from bsb.simulation import _backends, adapter

    NativeResult.streaming = streaming
    _rebind(adapter)
    for name in ("bsb_nest.adapter", "bsb_neuron.adapter", "bsb_arbor.adapter"):
        if name in sys.modules:
            _rebind(sys.modules[name])
    if not getattr(_backends.get_simulation_adapters, "_bsb_results_native", False):
        _backends.get_simulation_adapters = _patched(_backends.get_simulation_adapters)
