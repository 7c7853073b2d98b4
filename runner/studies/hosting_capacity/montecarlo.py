"""Monte Carlo over irradiance, temperature, load and price (spec A.7), in parallel.

Each sample draws its own noisy day (and, with ``redraw_placement``, its own placement) from
a stream seeded by ``(seed, sample)``, so results do not depend on how samples are spread over
processes. Workers keep one compiled feeder per process.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
from typing import Any

import numpy as np

from runner.studies.hosting_capacity.config import Config
from runner.studies.hosting_capacity.placement import Placement, draw_placement
from runner.studies.hosting_capacity.profiles import (
    Day,
    hc_base_kva,
    load_scale,
    nominal_day,
    sample_day,
)
from runner.studies.hosting_capacity.search import Context, dynamic_hc, static_hc

_CONTEXT: dict[str, Context] = {}


def context(cfg: Config) -> Context:
    """The process's compiled feeder for ``cfg`` (compiled once per process and config)."""
    key = cfg.model_dump_json()
    if key not in _CONTEXT:
        _CONTEXT.clear()
        _CONTEXT[key] = Context(cfg)
    return _CONTEXT[key]


def setup(cfg: Config, seed: int) -> tuple[Context, float, Day, Day, Placement]:
    """Context, HC base [kVA], nominal static day, nominal dynamic day and the placement."""
    ctx = context(cfg)
    net = ctx.net
    base = hc_base_kva(cfg, net.load_p_kw, net.load_q_kvar)
    scale = load_scale(cfg, net.load_p_kw, net.load_q_kvar)
    static_day = nominal_day(cfg, net.n_buses, scale)
    dyn_day = nominal_day(cfg.model_copy(update={"variant": "nominal"}), net.n_buses, scale)
    place = draw_placement(cfg, net, base, np.random.default_rng([seed, 0]))
    return ctx, base, static_day, dyn_day, place


def run_sample(cfg_json: str, seed: int, sample: int, with_dynamic: bool) -> dict[str, Any]:
    """Static (and dynamic) HC of Monte Carlo sample ``sample``."""
    cfg = Config.model_validate_json(cfg_json)
    ctx, base, sday, dday, place = setup(cfg, seed)
    rng = np.random.default_rng([seed, 1, sample])
    if cfg.redraw_placement:
        place = draw_placement(cfg, ctx.net, base, np.random.default_rng([seed, 2, sample]))
    noise_state = rng.bit_generator.state
    s = static_hc(ctx, place, sample_day(cfg, sday, rng))
    row: dict[str, Any] = {"sample": sample, "static_level": s.level, "static_pv_kw": s.pv_kw,
                           "static_hc_pct": 100 * s.pv_kw / base,
                           "static_checks": len(s.checks)}
    if with_dynamic:
        rng.bit_generator.state = noise_state  # same noise for the dynamic day
        d = dynamic_hc(ctx, place, sample_day(cfg, dday, rng))
        gaps = [c.gap_v_pu for c in d.checks if c.feasible]
        row |= {"dynamic_level": d.level, "dynamic_pv_kw": d.pv_kw,
                "dynamic_hc_pct": 100 * d.pv_kw / base, "dynamic_checks": len(d.checks),
                "dynamic_solve_s": sum(c.solve_s for c in d.checks),
                "dynamic_gap_v_pu": max(gaps) if gaps else float("nan")}
    return row


def run_samples(cfg: Config, seed: int, jobs: int = 1, scheduler: str | None = None
                ) -> list[dict[str, Any]]:
    """All samples; processes (``jobs``) or a dask.distributed scheduler address."""
    n_dyn = cfg.samples if cfg.dynamic_samples is None else min(cfg.dynamic_samples,
                                                                cfg.samples)
    args = [(cfg.model_dump_json(), seed, s, cfg.dynamic and s < n_dyn)
            for s in range(cfg.samples)]
    if scheduler:
        from dask.distributed import Client

        with Client(scheduler) as client:
            futures = client.map(run_sample, *zip(*args, strict=True), pure=False)
            rows = client.gather(futures)
    elif jobs > 1 and len(args) > 1:
        with cf.ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn")) as pool:
            rows = list(pool.map(run_sample, *zip(*args, strict=True)))
    else:
        rows = [run_sample(*a) for a in args]
    return sorted(rows, key=lambda r: r["sample"])
