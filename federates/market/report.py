"""Post-run metrics and plots of the market federate (from the recorder's long table)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from federates.common.series import scalar
from federates.market.config import MarketConfig, parse_seconds


def _wide(ts: pd.DataFrame, signal: str) -> pd.DataFrame:
    sub = ts[ts["signal"] == signal]
    if sub.empty:
        return pd.DataFrame()
    return sub.pivot_table(index="time", columns="id", values="value", aggfunc="last")


def market_report(name: str, config: MarketConfig, ts: pd.DataFrame,
                  plots_dir: Any) -> dict[str, Any]:
    """Metrics (costs, welfare, prices, solve times) and plots of one market federate."""
    out: dict[str, Any] = {}
    hours = parse_seconds(config.primary_period) / 3600.0
    cost = scalar(ts, f"{name}.total_cost")
    welfare = scalar(ts, f"{name}.welfare")
    if not cost.empty:
        out["clearings"] = int(len(cost))
        out["total_cost_usd"] = float(cost.sum() * hours)
        out["welfare_usd"] = float(welfare.sum() * hours)
        out["curtailment_kw_max"] = float(scalar(ts, f"{name}.curtailment_kw").max())
        out["generation_kw_max"] = float(scalar(ts, f"{name}.generation_kw").max())
        out["scheduled_peak_import_kw"] = float(scalar(ts, f"{name}.pcc_p_kw").max())
        out["inexact_clearings"] = int((scalar(ts, f"{name}.exact") < 0.5).sum())
        out["relaxation_gap_kw_max"] = float(scalar(ts, f"{name}.relaxation_gap").max())
        viol = scalar(ts, f"{name}.v_violation_pu")
        out["soft_voltage_violation_pu_max"] = float(viol.max()) if not viol.empty else 0.0
        solve = scalar(ts, f"{name}.solve_ms")
        out["primary_solve_ms_median"] = float(solve.median())
        out["primary_solve_ms_max"] = float(solve.max())
    out.update(grid_forming_metrics(name, config, ts))
    if "pcc_import_abs_kw_max" in out and plots_dir is not None:
        (Path(plots_dir).parent / f"{name}_island_report.md").write_text(
            island_markdown(name, out))
    dlmp = _wide(ts, f"{name}.dlmp")
    if not dlmp.empty:
        out["dlmp_mean"] = float(np.nanmean(dlmp.values))
        out["dlmp_max"] = float(np.nanmax(dlmp.values))
        out["dlmp_min"] = float(np.nanmin(dlmp.values))
    if plots_dir is not None and (not cost.empty or not dlmp.empty):
        try:
            out["plots"] = _plots(name, config, ts, Path(plots_dir), dlmp, cost, welfare)
        except Exception as exc:  # noqa: BLE001 - a plot must never fail a run's report
            out["plot_error"] = repr(exc)
    return out


def _intervals(mask: pd.Series, step: float) -> list[list[float]]:
    """[first, last] times of each run of True in a time-indexed boolean series."""
    out: list[list[float]] = []
    for t in mask.index[mask.to_numpy()]:
        if out and t - out[-1][1] <= step * 1.5:
            out[-1][1] = float(t)
        else:
            out.append([float(t), float(t)])
    return out


def grid_forming_metrics(name: str, config: MarketConfig, ts: pd.DataFrame) -> dict[str, Any]:
    """Grid-forming unit: scheduled output vs its limits and, islanded, what the grid
    measured: PCC import, the unit's output vs capacity, floor and schedule, and the island
    balance (output - loads - losses)."""
    gf = config.primary.grid_forming
    sched = scalar(ts, f"{name}.grid_forming_p_kw")
    if gf is None or sched.empty:
        return {}
    out: dict[str, Any] = {
        "grid_forming_capacity_kw": gf.p_max_kw, "grid_forming_floor_kw": gf.p_min_kw,
        "grid_forming_scheduled_kw_max": round(float(sched.max()), 3),
        "grid_forming_scheduled_over_capacity": int((sched > gf.p_max_kw + 1e-6).sum())}
    grid = config.grid_state_key.split("/", 1)[0]
    meas = scalar(ts, f"{grid}.island_p_kw")
    if not config.primary.islanded or meas.empty:
        return out
    step = float(np.median(np.diff(meas.index))) if len(meas) > 1 else 0.0
    first = float(sched.index[0])  # before the first clearing nothing is dispatched
    run = meas[meas.index >= first]
    # the schedule cleared at t acts from the next step on
    in_force = sched.reindex(run.index - step, method="ffill").set_axis(run.index)
    err = (run - in_force).dropna()
    over, under = run > gf.p_max_kw, run < gf.p_min_kw
    loads = ts[ts["signal"] == f"{grid}.bus_p_kw"].groupby("time")["value"].sum()
    balance = (meas - loads.reindex(meas.index) - scalar(ts, f"{grid}.losses_kw")).dropna()
    out.update({
        "pcc_import_abs_kw_max": round(float(scalar(ts, f"{grid}.pcc_p_kw").abs().max()), 6),
        "island_balance_residual_kw_max": round(float(balance.abs().max()), 6)
        if len(balance) else None,
        "grid_forming_measured_kw_max": round(float(run.max()), 3),
        "grid_forming_measured_kw_min": round(float(run.min()), 3),
        "grid_forming_over_capacity_steps": int(over.sum()),
        "grid_forming_over_capacity_kw_max": round(float(max((run - gf.p_max_kw).max(), 0)), 3),
        "grid_forming_over_capacity_intervals_s": _intervals(over, step),
        "grid_forming_below_floor_steps": int(under.sum()),
        "grid_forming_below_floor_intervals_s": _intervals(under, step),
        "grid_forming_schedule_error_kw_mean": round(float(err.abs().mean()), 3)
        if len(err) else None,
    })
    out.update(_flexibility_left(name, ts))
    return out


def _flexibility_left(name: str, ts: pd.DataFrame) -> dict[str, Any]:
    """Smallest downward flexibility the primary market had left after a clearing: sum over
    SMOs of cleared setpoint minus bid minimum [kW] (SMOs held without flexibility add 0),
    with the number of flexible SMOs cleared at their minimum."""
    p, lo, hi = (_wide(ts, f"{name}.primary.{k}") for k in ("p_kw", "p_min_kw", "p_max_kw"))
    if p.empty or lo.empty or hi.empty:
        return {}
    left = (p - lo).clip(lower=0.0)
    flexible = (hi - lo) > 1e-6
    total = left.where(flexible, 0.0).sum(axis=1)
    t = float(total.idxmin())
    at_min = int(((left.loc[t] < 1.0) & flexible.loc[t]).sum())
    return {"down_flexibility_left_kw_min": round(float(total.min()), 3),
            "down_flexibility_left_time_s": t,
            "smos_at_minimum_then": at_min, "flexible_smos_then": int(flexible.loc[t].sum())}


def island_markdown(name: str, m: dict[str, Any]) -> str:
    """The island's balance and the grid-forming unit's limits, as measured by the grid."""

    def spans(key: str) -> str:
        return ", ".join(f"[{a:g}, {b:g}] s" for a, b in m[key]) or "none"

    rows = [
        ("PCC import, max abs [kW]", m["pcc_import_abs_kw_max"]),
        ("Island balance: output - loads - losses, max abs [kW]",
         m["island_balance_residual_kw_max"]),
        ("Grid-forming capacity / floor [kW]",
         f"{m['grid_forming_capacity_kw']:g} / {m['grid_forming_floor_kw']:g}"),
        ("Measured output max / min [kW]",
         f"{m['grid_forming_measured_kw_max']:,.1f} / {m['grid_forming_measured_kw_min']:,.1f}"),
        ("Steps above capacity (max excess [kW]; when)",
         f"{m['grid_forming_over_capacity_steps']} ({m['grid_forming_over_capacity_kw_max']:,.1f}"
         f"; {spans('grid_forming_over_capacity_intervals_s')})"),
        ("Steps below floor (when)", f"{m['grid_forming_below_floor_steps']} "
         f"({spans('grid_forming_below_floor_intervals_s')})"),
        ("Measured - scheduled output, mean abs [kW]", m["grid_forming_schedule_error_kw_mean"]),
    ]
    if "down_flexibility_left_kw_min" in m:
        rows.append(("Least downward flexibility left after a clearing [kW] (when; flexible "
                     "SMOs at their bid minimum)",
                     f"{m['down_flexibility_left_kw_min']:,.1f} "
                     f"({m['down_flexibility_left_time_s']:g} s; "
                     f"{m['smos_at_minimum_then']} of {m['flexible_smos_then']})"))
    lines = [f"## Island ({name})", "", "Substation open: the grid-forming unit balances the "
             "feeder (an ideal source in OpenDSS, so the power flow always balances; its "
             "limits are the market's and are checked here).", "", "| | |", "|---|---|"]
    lines += [f"| {label} | {value} |" for label, value in rows]
    return "\n".join(lines) + "\n"


def _distance(config: MarketConfig, buses: list[str]) -> np.ndarray:
    import feeders

    net = feeders.load(config.feeder).network
    d = net.electrical_distance_pu()  # electrical distance: sum of branch r from the source [pu]
    return np.array([d[net.bus_index[b]] if b in net.bus_index else np.nan for b in buses])


def _plots(name: str, config: MarketConfig, ts: pd.DataFrame, plots: Path,
           dlmp: pd.DataFrame, cost: pd.Series, welfare: pd.Series) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    if not dlmp.empty:
        buses = list(dlmp.columns)
        dist = _distance(config, buses)
        order = np.argsort(dist)
        peak_t = dlmp.mean(axis=1).idxmax()
        fig, ax = plt.subplots(1, 2, figsize=(12, 4.5))
        comps = {c: _wide(ts, f"{name}.dlmp_{c}") for c in
                 ("energy", "losses", "voltage", "congestion")}
        x = dist[order]
        bottom = np.zeros(len(order))
        for c, frame in comps.items():
            if frame.empty or peak_t not in frame.index:
                continue
            vals = frame.loc[peak_t, [buses[i] for i in order]].to_numpy(dtype=float)
            ax[0].fill_between(x, bottom, bottom + vals, step="mid", alpha=0.6, label=c)
            bottom = bottom + vals
        ax[0].plot(x, dlmp.loc[peak_t].to_numpy()[order], "k.", ms=4, label="dLMP")
        ax[0].set(xlabel="electrical distance from source (sum of r) [pu]",
                  ylabel="$/kWh", title=f"dLMP along the feeder at t={peak_t / 3600:.2f} h")
        ax[0].legend(fontsize=8)
        hrs = dlmp.index.to_numpy() / 3600.0
        im = ax[1].imshow(dlmp[[buses[i] for i in order]].to_numpy().T, aspect="auto",
                          origin="lower", extent=[hrs[0], hrs[-1] if len(hrs) > 1 else 1, 0,
                                                  len(buses)], cmap="viridis")
        fig.colorbar(im, ax=ax[1], label="$/kWh")
        ax[1].set(xlabel="time [h]", ylabel="bus (sorted by distance)", title="dLMP over time")
        fig.tight_layout()
        path = plots / f"{name}_dlmp.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path.name)
    disp = {k: _wide(ts, f"{name}.primary.{k}") for k in ("p0_kw", "p_min_kw", "p_max_kw",
                                                          "p_kw")}
    sec = _wide(ts, f"{name}.secondary.p_kw")
    if not disp["p_kw"].empty:
        use = (disp["p0_kw"] - disp["p_kw"]).abs().sum().sort_values(ascending=False)
        smos = list(use.index[:4])
        fig, axes = plt.subplots(len(smos), 1, figsize=(10, 2.2 * len(smos)), sharex=True,
                                 squeeze=False)
        for ax, s in zip(axes[:, 0], smos, strict=True):
            h = disp["p_kw"].index.to_numpy() / 3600.0
            ax.fill_between(h, disp["p_min_kw"][s], disp["p_max_kw"][s], step="post",
                            alpha=0.25, label="bid range")
            ax.step(h, disp["p0_kw"][s], where="post", label="bid P0")
            ax.step(h, disp["p_kw"][s], where="post", label="primary setpoint")
            if not sec.empty and s in sec:
                ax.step(sec.index.to_numpy() / 3600.0, sec[s], where="post", lw=0.8,
                        label="secondary total")
            ax.set_ylabel(f"SMO {s} [kW]")
        axes[0, 0].legend(fontsize=7, ncol=4)
        axes[-1, 0].set_xlabel("time [h]")
        fig.tight_layout()
        path = plots / f"{name}_setpoints_vs_bids.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path.name)
    if not cost.empty:
        fig, ax = plt.subplots(figsize=(10, 3.5))
        h = cost.index.to_numpy() / 3600.0
        ax.step(h, cost.to_numpy(), where="post", label="total cost [$/h]")
        ax.step(h, welfare.to_numpy(), where="post", label="welfare vs no market [$/h]")
        ax.set(xlabel="time [h]", ylabel="$/h", title="Market cost and welfare")
        ax.legend()
        fig.tight_layout()
        path = plots / f"{name}_cost_welfare.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path.name)
    return written
