"""Market clearing times on IEEE 123 with the `ieee123_der` population (85 SMOs, 1,008 houses).

Bids come from the real device population (federates.iot) stepped through a summer day;
the residual (non-house) load of each bus is the market's background load. Timed:
- primary market (SOCP and LinDistFlow): warm re-solve of the parametric OPF (solver call
  incl. cvxpy parameter update) and the whole clearing incl. the dLMP decomposition;
- secondary markets: all 85 SMOs of one period (lexicographic stages, one joint solve each),
  with the stages assembled directly for Clarabel (default), in closed form (stages 3-4,
  `backend="closed"`) and as the cvxpy reference.
The first (compiling) solve is reported separately. Goal: primary warm re-solve < 50 ms.
Wall times and process CPU times are both reported: on a shared, overloaded machine the
CPU time is the better estimate of what the clearing costs.

    .venv/bin/python benchmarks/bench_market.py [--periods 12]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from federates.common.weather import load as load_weather
from federates.iot.agents import Coordinator
from federates.iot.config import IotConfig
from federates.iot.federate import build_population
from federates.iot.model import PopulationModel
from federates.market.config import MarketConfig, PrimaryConfig, SecondaryConfig
from federates.market.operator import MarketOperator
from federates.market.primary import Background


def _stats(xs: list[float]) -> dict[str, float]:
    a = np.asarray(xs) * 1e3
    return {"median_ms": float(np.median(a)), "p90_ms": float(np.percentile(a, 90)),
            "max_ms": float(a.max())}


def bench(periods: int = 12, model: str = "socp", seed: int = 7,
          secondary_backend: str = "clarabel") -> dict[str, object]:
    cfg = IotConfig(feeder="ieee123", seed=seed, market="market/bids")
    pop = build_population(cfg)
    dev = PopulationModel(pop, load_weather("summer"), 0.0)
    coord = Coordinator(dev, 60.0, 900.0, cfg.beta_per_band, cfg.alpha_gen)
    mcfg = MarketConfig(feeder="ieee123", background_load="none",
                        primary=PrimaryConfig(model=model, voltage_cost=50.0),
                        secondary=SecondaryConfig(backend=secondary_backend))
    op = MarketOperator(mcfg)
    bg = np.zeros(op.net.n)
    for (bus, _), kw in zip(pop.bus_phases, pop.residual_kw, strict=True):
        bg[op.net.bus_index[bus]] += kw
    first_primary = first_secondary = 0.0
    warm, total, secondary, exact, cpu_p, cpu_s = [], [], [], [], [], []
    t = 10 * 3600.0  # start at 10:00: PV, cooling and battery flexibility are all present
    for k in range(periods + 1):
        for _ in range(15):
            dev.step(t, 60.0)
            t += 60.0
        for b in coord.bids(t + 60.0, t):
            op.on_bid(b)
        bids = op.agent_bids()
        c0, t0 = time.process_time(), time.perf_counter()
        res = op.primary.clear(bids, Background(bg, bg * op.pf_ratio))
        c1, t1 = time.process_time(), time.perf_counter()
        op.last = res
        op.adjust = {s: float(res.p_kw[i] - bids.p0[i]) for i, s in enumerate(op.smos)}
        c2, t2 = time.process_time(), time.perf_counter()
        op.clear_secondary(t)
        c3, t3 = time.process_time(), time.perf_counter()
        if k == 0:
            first_primary, first_secondary = t1 - t0, t3 - t2
            continue
        warm.append(res.solve_time_s)
        total.append(t1 - t0)
        secondary.append(t3 - t2)
        cpu_p.append(c1 - c0)
        cpu_s.append(c3 - c2)
        exact.append(res.exact)
    return {
        "model": model, "secondary_backend": secondary_backend, "buses": op.net.n,
        "smos": len(op.smos), "agents": len(op._layout),
        "periods": periods, "first_primary_s": first_primary,
        "first_secondary_s": first_secondary, "primary_warm_solve": _stats(warm),
        "primary_clear_with_prices": _stats(total),
        "secondary_all_smos": _stats(secondary), "exact_fraction": float(np.mean(exact)),
        "primary_clear_cpu": _stats(cpu_p), "secondary_cpu": _stats(cpu_s),
    }


def main(periods: int = 12) -> dict[str, object]:
    out = {m: bench(periods, m) for m in ("socp", "lindistflow")}
    out["socp_closed_secondary"] = bench(periods, "socp", secondary_backend="closed")
    out["socp_cvxpy_secondary"] = bench(periods, "socp", secondary_backend="cvxpy")
    for m, r in out.items():
        print(f"{m:12s} {r['buses']} buses, {r['smos']} SMOs, {r['agents']} agents")
        print(f"  first (compiling) primary {r['first_primary_s']:.3f} s, "
              f"secondary {r['first_secondary_s']:.3f} s")
        for key in ("primary_warm_solve", "primary_clear_with_prices", "primary_clear_cpu",
                    "secondary_all_smos", "secondary_cpu"):
            s = r[key]
            print(f"  {key:28s} median {s['median_ms']:7.1f} ms  p90 {s['p90_ms']:7.1f} ms  "
                  f"max {s['max_ms']:7.1f} ms")
        print(f"  exact relaxation in {100 * r['exact_fraction']:.0f} % of clearings")
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--periods", type=int, default=12)
    main(ap.parse_args().periods)
