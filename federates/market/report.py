"""Post-run metrics and plots of the market federate (from the recorder's long table)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from federates.market.config import MarketConfig, parse_seconds


def _wide(ts: pd.DataFrame, signal: str) -> pd.DataFrame:
    sub = ts[ts["signal"] == signal]
    if sub.empty:
        return pd.DataFrame()
    return sub.pivot_table(index="time", columns="id", values="value", aggfunc="last")


def _scalar(ts: pd.DataFrame, signal: str) -> pd.Series:
    sub = ts[ts["signal"] == signal]
    return sub.groupby("time")["value"].last()


def market_report(name: str, config: MarketConfig, ts: pd.DataFrame,
                  plots_dir: Any) -> dict[str, Any]:
    """Metrics (costs, welfare, prices, solve times) and plots of one market federate."""
    out: dict[str, Any] = {}
    hours = parse_seconds(config.primary_period) / 3600.0
    cost = _scalar(ts, f"{name}.total_cost")
    welfare = _scalar(ts, f"{name}.welfare")
    if not cost.empty:
        out["clearings"] = int(len(cost))
        out["total_cost_usd"] = float(cost.sum() * hours)
        out["welfare_usd"] = float(welfare.sum() * hours)
        out["curtailment_kw_max"] = float(_scalar(ts, f"{name}.curtailment_kw").max())
        out["generation_kw_max"] = float(_scalar(ts, f"{name}.generation_kw").max())
        out["scheduled_peak_import_kw"] = float(_scalar(ts, f"{name}.pcc_p_kw").max())
        out["inexact_clearings"] = int((_scalar(ts, f"{name}.exact") < 0.5).sum())
        out["relaxation_gap_kw_max"] = float(_scalar(ts, f"{name}.relaxation_gap").max())
        viol = _scalar(ts, f"{name}.v_violation_pu")
        out["soft_voltage_violation_pu_max"] = float(viol.max()) if not viol.empty else 0.0
        solve = _scalar(ts, f"{name}.solve_ms")
        out["primary_solve_ms_median"] = float(solve.median())
        out["primary_solve_ms_max"] = float(solve.max())
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


def _distance(config: MarketConfig, buses: list[str]) -> np.ndarray:
    import feeders
    from federates.market.network_model import from_feeder

    net = from_feeder(feeders.load(config.feeder))
    d = net.distance()  # electrical distance: sum of branch r from the source [pu]
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
