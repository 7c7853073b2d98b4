"""The ``hosting_capacity`` study: deterministic static/dynamic HC, then Monte Carlo."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import feeders
from runner.studies.hosting_capacity import outputs
from runner.studies.hosting_capacity.config import Config
from runner.studies.hosting_capacity.montecarlo import run_samples, setup
from runner.studies.hosting_capacity.profiles import load_scale, nominal_day
from runner.studies.hosting_capacity.search import dynamic_hc, static_hc
from runner.studies.hosting_capacity.sensitivity import bs_hp_grid, summarise


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, np.generic):
        return _clean(v.item())
    return v


def run(config: Config, out: Path, *, seed: int, jobs: int = 1,
        scheduler: str | None = None) -> dict[str, Any]:
    """Run the study and write results.json, parquet tables, plots and report.md to ``out``."""
    cfg = config
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    ctx, base, sday, dday, place = setup(cfg, seed)
    net = ctx.net
    st = static_hc(ctx, place, sday)
    worst = cfg.model_copy(update={"variant": "worst_case"})
    wday = nominal_day(worst, net.n_buses, load_scale(cfg, net.load_p_kw, net.load_q_kvar))
    wst = static_hc(ctx, place, wday)
    res: dict[str, Any] = {
        "feeder": cfg.feeder, "seed": seed, "variant": cfg.variant, "base_kva": base,
        "step_min": cfg.step_min, "horizon_h": cfg.horizon_h, "regulators": cfg.regulators,
        "sequence_levels": place.n_levels,
        "static_level": st.level, "static_pv_kw": st.pv_kw,
        "static_hc_pct": 100 * st.pv_kw / base,
        "static_worst_hc_pct": 100 * wst.pv_kw / base,
        "static_pv_buses": int((place.pv_kw(st.level) > 0).sum()),
    }
    checks = st.checks + wst.checks
    for c in wst.checks:
        c.mode = "static_worst_case"
    pv_cases = {"static HC": place.pv_kw(st.level)}
    if cfg.dynamic:
        dy = dynamic_hc(ctx, place, dday)
        checks += dy.checks
        gaps = [c.gap_v_pu for c in dy.checks if c.feasible]
        res |= {"dynamic_level": dy.level, "dynamic_pv_kw": dy.pv_kw,
                "dynamic_hc_pct": 100 * dy.pv_kw / base,
                "dynamic_pv_buses": int((place.pv_kw(dy.level) > 0).sum()),
                "ratio": dy.pv_kw / st.pv_kw if st.pv_kw > 0 else float("nan"),
                "dynamic_gap_v_pu": max(gaps) if gaps else float("nan"),
                "dynamic_check_solve_s_mean": float(np.mean([c.solve_s for c in dy.checks]))
                if dy.checks else float("nan")}
        pv_cases["dynamic HC"] = place.pv_kw(dy.level)
    levels = pd.DataFrame([c.__dict__ for c in checks])
    levels.to_parquet(out / "levels.parquet", index=False)
    buses = pd.DataFrame({"bus": net.buses, "homes": place.homes, "bs_kw": place.bs_kw,
                          "bs_kwh": place.bs_kwh, "hp_units": place.hp_units,
                          "ev_units": place.ev_units, "pv_static_kw": pv_cases["static HC"]})
    if "dynamic HC" in pv_cases:
        buses["pv_dynamic_kw"] = pv_cases["dynamic HC"]
    buses.to_parquet(out / "buses.parquet", index=False)
    outputs.pv_map(net, feeders.load(cfg.feeder).bus_coords, pv_cases,
                   f"{cfg.feeder}: PV per bus at the hosting capacity", out / "pv_map.png")
    if cfg.samples:
        t_mc = time.perf_counter()
        samples = pd.DataFrame(run_samples(cfg, seed, jobs, scheduler))
        samples.to_parquet(out / "samples.parquet", index=False)
        mc: dict[str, Any] = {"samples": len(samples), "wall_s": time.perf_counter() - t_mc}
        for mode in ("static", "dynamic"):
            col = f"{mode}_hc_pct"
            if col in samples and samples[col].notna().any():
                v = samples[col].dropna()
                mc |= {f"{mode}_mean": v.mean(), f"{mode}_std": v.std(ddof=1) if len(v) > 1
                       else 0.0, f"{mode}_min": v.min(), f"{mode}_max": v.max()}
        if "dynamic_hc_pct" in samples:
            both = samples.dropna(subset=["dynamic_hc_pct"])
            mc["dynamic_ge_static"] = bool((both["dynamic_hc_pct"]
                                            >= both["static_hc_pct"] - 1e-9).all())
        res["monte_carlo"] = {k: _clean(v) for k, v in mc.items()}
        outputs.hc_distribution(samples, out / "hc_distribution.png")
    if cfg.sensitivity:
        grid = bs_hp_grid(cfg, seed)
        grid.to_parquet(out / "sensitivity.parquet", index=False)
        res["sensitivity"] = summarise(grid)
    res["wall_s"] = time.perf_counter() - t0
    res = {k: _clean(v) for k, v in res.items()}
    (out / "results.json").write_text(json.dumps(res, indent=2) + "\n")
    outputs.report(res, out / "report.md")
    return res
