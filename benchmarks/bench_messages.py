"""CPU cost of one market period's message path on IEEE 123 (85 SMOs, 1,008 houses).

The market is on the critical path (devices wait for its setpoints), so what it spends on
messages besides solving adds to a run's wall time. Timed per market period, in main-thread
CPU time (robust on a busy machine; the minimum over the periods is reported):
- devices: building the 85 FlexibilityBid JSONs, parsing the Setpoints, applying them;
- market: parsing the bids and the Responses (`parse_message`), the bid book updates, the
  clearing minus the primary and secondary solves (building the secondary problem's arrays
  from the bid columns, the Setpoint columns, the dispatch), serialising the Setpoints.

    .venv/bin/python benchmarks/bench_messages.py [--periods 8]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from pydantic_core import to_json

from federates.common.weather import load as load_weather
from federates.iot.agents import Coordinator
from federates.iot.config import IotConfig
from federates.iot.federate import build_population
from federates.iot.model import PopulationModel
from federates.market.config import MarketConfig, PrimaryConfig
from federates.market.federate import parse_message
from federates.market.operator import MarketOperator
from federates.messages import FlexibilityBid, Response, Setpoint


class _Solves:
    """Adds up the CPU time spent in the wrapped solver calls."""

    def __init__(self) -> None:
        self.total = 0.0

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.total += time.thread_time() - t0
        return timed


def main(periods: int = 8, seed: int = 7) -> dict[str, float]:
    cfg = IotConfig(feeder="ieee123", seed=seed, market="market/bids")
    pop = build_population(cfg)
    dev = PopulationModel(pop, load_weather("summer"), 0.0)
    dt, period = 60.0, 300.0
    coord = Coordinator(dev, dt, period, cfg.beta_per_band, cfg.alpha_gen)
    op = MarketOperator(MarketConfig(feeder="ieee123", background_load="none",
                                     primary_period="5min", secondary_period="5min",
                                     primary=PrimaryConfig(voltage_cost=50.0)))
    solves = _Solves()
    op.primary.clear = solves.wrap(op.primary.clear)  # type: ignore[method-assign]
    wrapped: set[int] = set()
    times: dict[str, list[float]] = {}

    @contextmanager
    def clock(key: str) -> Iterator[None]:
        t0 = time.thread_time()
        yield
        times.setdefault(key, []).append(1e3 * (time.thread_time() - t0))

    t = 10 * 3600.0  # 10:00: PV, cooling and battery flexibility are all present
    responses: list[str] = []
    for _ in range(periods + 1):  # the first period compiles the problems: not counted
        with clock("devices_bids_ms"):
            bids = [to_json(d).decode() for d in coord.bid_dicts(t + dt, t)]
        with clock("market_parse_bids_ms"):
            msgs = [parse_message(b) for b in bids]
        with clock("market_parse_responses_ms"):
            resps = [parse_message(r) for r in responses]
        assert all(isinstance(m, FlexibilityBid) for m in msgs)
        assert all(isinstance(m, Response) for m in resps)
        with clock("market_book_ms"):
            for m in msgs:
                op.on_bid(m)  # type: ignore[arg-type]
            for m in resps:
                op.on_response(m)  # type: ignore[arg-type]
        sec = op._secondary
        if sec is not None and id(sec) not in wrapped:  # rebuilt when a new agent appears
            sec.clear = solves.wrap(sec.clear)  # type: ignore[method-assign]
            wrapped.add(id(sec))
        solves.total = 0.0
        with clock("market_clear_ms"):
            out = op.clear(t)
        times.setdefault("market_clear_minus_solves_ms", []).append(
            times["market_clear_ms"][-1] - 1e3 * solves.total)
        with clock("market_setpoints_to_wire_ms"):
            wires = [sp.to_wire() for sp in out.setpoints]
        with clock("devices_parse_setpoints_ms"):
            sps = [Setpoint.from_wire(w) for w in wires]
        with clock("devices_apply_setpoints_ms"):
            coord.apply_setpoints(sps)
        for _ in range(int(period / dt)):
            res = dev.step(t, dt)
            t += dt
            responses = [to_json(r).decode() for r in coord.response_dicts(res, t)]
    result = {k: float(np.min(v[1:])) for k, v in times.items() if k != "market_clear_ms"}
    result["market_messages_ms"] = sum(v for k, v in result.items()
                                       if k.startswith("market_"))
    return result


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--periods", type=int, default=8)
    for key, value in main(ap.parse_args().periods).items():
        print(f"{key:34s} {value:7.2f}")
