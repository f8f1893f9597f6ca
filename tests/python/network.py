"""The synthetic network of `bsb-results simulate`, recorded from Python through
bsb_results: the same cells, devices, names and seeded activity (the generators are the
library's own, `bsb_results._native.synthetic_*`), so the file equals simulate's, recording
for recording."""

import numpy as np

from bsb_results import _native


def cell_target(cell):
    """Every fourth cell is a Golgi cell."""
    return ("golgi_cell", cell, "golgi_iaf") if cell % 4 == 3 else ("granule_cell", cell, "granule_iaf")


def local_cells(cells, rank, size):
    return range(cells * rank // size, cells * (rank + 1) // size)


def record(result, *, cells, voltage_cells, rate_hz, seed, resolution_ms, multiplex):
    """Registers simulate's four recorders on this rank of `result`."""
    rank, size = result.rank, result.size
    mine = local_cells(cells, rank, size)
    res = resolution_ms

    def spikes(ctx):
        trains = [(cell_target(c), _native.synthetic_poisson([seed, c, ctx.checkpoint_index], rate_hz, res, ctx.t_start_ms, ctx.t_stop_ms))
                  for c in mine]
        if not multiplex:
            for (ps, c, model), times in trains:
                ctx.spike_train(ps, c, model, times, name=f"{ps}_{c}")
        elif trains:
            times = np.concatenate([t for _, t in trains])
            index = np.concatenate([np.full(len(t), k, dtype=np.int64) for k, (_, t) in enumerate(trains)])
            order = np.argsort(times, kind="stable")
            ctx.multiplexed_spikes([target for target, _ in trains], times[order], index[order], name="spikes")

    watched = range(min(mine.start, voltage_cells), min(mine.stop, voltage_cells))

    def traces(name, stream, compartment):
        def flush(ctx):
            n = int(round((ctx.t_stop_ms - ctx.t_start_ms) / res))
            kind = "compartment" if compartment else "cell"
            rows = []
            for c in watched:
                fields = {"section": "dend", "arc": (c % 10) / 10 + 0.05} if compartment else {}
                rows.append((cell_target(c), fields, _native.synthetic_trace([seed, c, ctx.checkpoint_index, stream], n)))
            if not multiplex:
                for (ps, c, model), fields, samples in rows:
                    ctx.analog_signal(ps, c, model, samples, res, units="mV", name=name, recording_kind=kind, fields=fields)
            elif rows:
                targets = [(*target, fields) for target, fields, _ in rows]
                ctx.multiplexed_signal(targets, np.column_stack([s for _, _, s in rows]), res, units="mV", name=name, recording_kind=kind)
        return flush

    def background(ctx):
        times = _native.synthetic_poisson([seed, 2**64 - 1 - rank, ctx.checkpoint_index], 50.0, res, ctx.t_start_ms, ctx.t_stop_ms)
        ctx.stimulus_train(times, targets=len(mine), name=f"background_rank{rank}")

    result.create_recorder(spikes, device="spikes", kind="spike_recorder")
    result.create_recorder(traces("V_m", 1, False), device="vm", kind="voltmeter", meta={"sampling_period_ms": res})
    result.create_recorder(traces("V_dend", 2, True), device="dendrites", kind="compartment_recorder")
    result.create_recorder(background, device="background", kind="poisson_generator", stimulating=True)


def run(path, comm, *, cells=60, voltage_cells=5, checkpoints=3, duration_ms=300.0, resolution_ms=0.5, rate_hz=20.0, seed=42,
        multiplex=False, name="simulate", mode="ow"):
    """simulate's run, from Python: returns the write's summary."""
    import bsb_results as br

    config = {"name": name, "cells": cells, "duration_ms": duration_ms, "resolution_ms": resolution_ms, "checkpoints": checkpoints,
              "voltage_cells": voltage_cells, "rate_hz": rate_hz, "seed": seed}
    result = br.SimulationResult(name, config, comm, duration_ms=duration_ms, resolution_ms=resolution_ms, seed=seed)
    result.set_simulator("bsb-results-synthetic", br.__version__)
    result.mark_started()
    record(result, cells=cells, voltage_cells=voltage_cells, rate_hz=rate_hz, seed=seed, resolution_ms=resolution_ms, multiplex=multiplex)
    for c in range(1, checkpoints + 1):
        t = duration_ms * c / checkpoints
        result.flush_until(t, {"step": float(round(t / resolution_ms))})
    result.mark_finished()
    return result.write(path, mode=mode)


def simulate_args(*, cells=60, voltage_cells=5, checkpoints=3, duration_ms=300.0, resolution_ms=0.5, rate_hz=20.0, seed=42, multiplex=False):
    """The same run's `bsb-results simulate` arguments."""
    args = ["--cells", str(cells), "--voltage-cells", str(voltage_cells), "--checkpoints", str(checkpoints), "--duration-ms", str(duration_ms),
            "--resolution-ms", str(resolution_ms), "--rate-hz", str(rate_hz), "--seed", str(seed), "--quiet"]
    return args + (["--multiplex"] if multiplex else [])
