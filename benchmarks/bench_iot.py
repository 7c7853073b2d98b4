"""Time per step of the vectorised device population: 1k, 10k and 100k devices.

Timings on a shared machine are noisy: the minimum is the cleanest estimate of the cost.
A device is one HVAC, water heater, PV system, battery or EV. Populations are drawn on the
IEEE 123 load buses with the shares of the `ieee123_der` preset plus EVs in 20 % of houses
(about 2 devices per house). A step is the model step (thermal, tanks, PV, batteries, EVs,
aggregation to buses) plus building the InjectionSet and PopulationSummary payloads; a
bid (flexibility of every device over a 5-minute period) is timed separately.

    .venv/bin/python benchmarks/bench_iot.py [--steps 60]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import feeders
from federates.common.weather import builtin
from federates.iot.agents import Coordinator
from federates.iot.federate import injections
from federates.iot.model import PopulationModel
from federates.iot.population import build
from federates.iot.spec import PopulationSpec

SHARES = {"waterheater": 348 / 1008, "pv": 207 / 1008, "battery": 173 / 1008, "ev": 0.2}
DEVICES_PER_HOUSE = 1.0 + sum(SHARES.values())


def population(n_devices: int, seed: int = 1):
    houses = max(int(round(n_devices / DEVICES_PER_HOUSE)), 85)
    spec = PopulationSpec.model_validate({
        "houses": houses, **{k: {"share": v} for k, v in SHARES.items()}})
    return build(spec, feeders.load("ieee123").tables.loads, seed=seed)


def bench(n_devices: int, steps: int = 60, dt: float = 60.0) -> dict[str, float]:
    pop = population(n_devices)
    model = PopulationModel(pop, builtin("summer"), start_time=14 * 3600.0)
    coord = Coordinator(model, dt, 300.0)
    t0 = 14 * 3600.0
    model.step(t0 - dt, dt)  # warm caches (propagator)
    times = []
    for k in range(steps):
        start = time.perf_counter()
        res = model.step(t0 + k * dt, dt)
        injections(pop, res, "houses", True, res.time)
        coord.summary(res)
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    coord.bid_messages(t0 + steps * dt, t0)
    bid_s = time.perf_counter() - start
    return {"devices": float(pop.n_devices()), "houses": float(pop.n_houses),
            "step_ms_min": 1e3 * float(np.min(times)),
            "step_ms_median": 1e3 * float(np.median(times)),
            "step_ms_p95": 1e3 * float(np.percentile(times, 95)), "bid_ms": 1e3 * bid_s}


def main(steps: int = 60) -> dict[str, dict[str, float]]:
    out = {}
    for n in (1_000, 10_000, 100_000):
        r = bench(n, steps)
        out[f"{n // 1000}k"] = r
        print(f"{n // 1000:>4}k devices ({int(r['devices'])} devices, {int(r['houses'])} houses):"
              f" step {r['step_ms_median']:.2f} ms median ({r['step_ms_min']:.2f} min,"
              f" {r['step_ms_p95']:.2f} p95);"
              f" bids {r['bid_ms']:.1f} ms")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    main(parser.parse_args().steps)
