"""Static and dynamic hosting capacity of one sample: bisection on the placement sequence.

Feasibility is monotone along the sequence (PV only grows), so the last feasible level is
found with O(log N) day checks. Level 0 (no PV) defines the baseline limits and is feasible
by construction when baseline violations are excluded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from runner.studies.hosting_capacity.config import Config
from runner.studies.hosting_capacity.devices import DeviceInjections, static_injections
from runner.studies.hosting_capacity.dispatch import Dispatch, solve_dispatch
from runner.studies.hosting_capacity.dss_check import DayResult, DssDay
from runner.studies.hosting_capacity.lindistflow import Sensitivity, balanced_lindistflow
from runner.studies.hosting_capacity.placement import Placement
from runner.studies.hosting_capacity.profiles import Day


@dataclass
class LevelCheck:
    """One feasibility check of a level of the sequence."""

    mode: str  # 'static' or 'dynamic'
    level: int
    pv_kw: float
    feasible: bool
    violation: str = ""
    rounds: int = 0
    solve_s: float = 0.0
    wall_s: float = 0.0
    gap_v_pu: float = float("nan")  # max |V_model - V_opendss| of the accepted dispatch
    gap_loading_pct: float = float("nan")  # max loading OpenDSS minus limit (<= 0 if ok)
    curtailed_share: float = float("nan")


@dataclass
class SearchResult:
    level: int
    pv_kw: float
    checks: list[LevelCheck] = field(default_factory=list)
    dispatch: Dispatch | None = None
    opendss: DayResult | None = None


class Context:
    """Per-process state: the compiled feeder and the network sensitivities."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.dss = DssDay(cfg)
        self.net = self.dss.net
        self.sens: Sensitivity = balanced_lindistflow(self.net)


def bisect_last_feasible(check: Callable[[int], bool], n_levels: int, lo: int = 0) -> int:
    """Largest level in [lo, n_levels] with ``check`` true, given ``check(lo)`` is true."""
    if check(n_levels):
        return n_levels
    hi = n_levels
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if check(mid):
            lo = mid
        else:
            hi = mid
    return lo


def pv_steps_first(cfg: Config, day: Day) -> np.ndarray | None:
    """Steps to check, most PV first; steps without PV are left out.

    Exact when steps are independent (taps fixed per step: ``baseline`` or ``locked``): a
    step without PV has the baseline's inputs at every level, and the baseline is within
    its own limits. With ``controlled`` regulators every step is solved in time order.
    """
    if cfg.regulators == "controlled":
        return None
    total = day.pv_avail.sum(axis=1)
    order = np.argsort(-total, kind="stable")
    return order[total[order] > 0]


def set_baseline(ctx: Context, day: Day, dev: DeviceInjections) -> DayResult:
    """Run the no-PV day and set the limits from it (baseline violations excluded)."""
    return ctx.dss.run_baseline(day, dev.total)


def static_hc(ctx: Context, place: Placement, day: Day) -> SearchResult:
    """Last level feasible with uncoordinated devices and PV at full output."""
    dev = static_injections(ctx.cfg, place, day)
    set_baseline(ctx, day, dev)
    checks: list[LevelCheck] = []
    steps = pv_steps_first(ctx.cfg, day)

    def check(level: int) -> bool:
        t0 = time.perf_counter()
        res = ctx.dss.run_day(day, dev.total + day.pv_avail * place.pv_kw(level)[None, :],
                              steps=steps)
        viol = "" if res.first_violation is None else "{}:{}:{}".format(*res.first_violation)
        checks.append(LevelCheck("static", level, place.total_kw(level), res.feasible, viol,
                                 wall_s=time.perf_counter() - t0))
        return res.feasible

    level = bisect_last_feasible(check, place.n_levels)
    return SearchResult(level, place.total_kw(level), checks)


def dynamic_check(ctx: Context, place: Placement, day: Day, level: int
                  ) -> tuple[LevelCheck, Dispatch | None, DayResult | None]:
    """Coordinated dispatch at ``level``, re-linearised at each OpenDSS solution; the level
    counts only if OpenDSS with the dispatch applied shows no violation."""
    cfg, t0 = ctx.cfg, time.perf_counter()
    pv = place.pv_kw(level)
    dev = static_injections(cfg, place, day)
    ref_p = dev.total + day.pv_avail * pv[None, :]
    ref_q = np.zeros_like(ref_p)
    ref = ctx.dss.run_day(day, ref_p, stop_at_violation=False, powers=True)
    out = LevelCheck("dynamic", level, place.total_kw(level), False)
    if not ref.converged:
        out.violation, out.wall_s = "reference power flow diverged", time.perf_counter() - t0
        return out, None, None
    disp, res = None, None
    for r in range(cfg.correction_rounds):
        disp = solve_dispatch(cfg, place, day, pv, ctx.sens, ref_p, ref_q, ref,
                              ctx.dss.limits, ctx.dss.monitored)
        out.rounds, out.solve_s = r + 1, out.solve_s + disp.solve_s
        if not disp.ok:
            out.violation = f"dispatch {disp.status}"
            break
        p, q = disp.injections()
        res = ctx.dss.run_day(day, p, q, stop_at_violation=False, powers=True)
        out.curtailed_share = disp.curtailed_share
        if res.feasible:
            mon = ctx.dss.monitored
            out.feasible, out.violation = True, ""
            out.gap_v_pu = float(np.nanmax(np.abs(disp.v_max_model[:, mon]
                                                  - res.v_max[:, mon])))
            out.gap_loading_pct = float(np.nanmax(res.loading - ctx.dss.limits.loading))
            break
        out.violation = "{}:{}:{}".format(*res.first_violation)
        if not res.converged:
            break
        ref_p, ref_q, ref = p, q, res
    out.wall_s = time.perf_counter() - t0
    return out, disp, res


def dynamic_hc(ctx: Context, place: Placement, day: Day) -> SearchResult:
    """Last level the coordinated dispatch makes feasible in OpenDSS."""
    set_baseline(ctx, day, static_injections(ctx.cfg, place, day))
    checks: list[LevelCheck] = []
    best: dict[int, tuple[Dispatch | None, DayResult | None]] = {}

    def check(level: int) -> bool:
        if level == 0:
            return True
        c, d, r = dynamic_check(ctx, place, day, level)
        checks.append(c)
        if c.feasible:
            best[level] = (d, r)
        return c.feasible

    level = bisect_last_feasible(check, place.n_levels)
    d, r = best.get(level, (None, None))
    return SearchResult(level, place.total_kw(level), checks, d, r)
