"""Post-run metrics and plots of the grid federate, from the recorded long-format series."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from federates.common.series import scalar, wide
from federates.grid.config import GridConfig


def grid_metrics(name: str, ts: pd.DataFrame) -> dict[str, Any]:
    p = scalar(ts, f"{name}.pcc_p_kw")
    if p.empty:
        return {}
    dt_h = float(np.median(np.diff(p.index))) / 3600.0 if len(p) > 1 else 0.0
    losses = scalar(ts, f"{name}.losses_kw")
    vmin = scalar(ts, f"{name}.v_min_pu")
    vmax = scalar(ts, f"{name}.v_max_pu")
    ansi_a = scalar(ts, f"{name}.ansi_a_violations")
    ansi_b = scalar(ts, f"{name}.ansi_b_violations")
    converged = scalar(ts, f"{name}.converged")
    imported = float(p.clip(lower=0).sum() * dt_h)
    island = scalar(ts, f"{name}.island_p_kw")
    extra = {"island_energy_kwh": round(float(island.sum() * dt_h), 3),
             "island_peak_kw": round(float(island.max()), 3)} if (island != 0).any() else {}
    return {
        "steps": int(len(p)),
        "energy_imported_kwh": round(imported, 3),
        "energy_exported_kwh": round(float((-p.clip(upper=0)).sum() * dt_h), 3),
        "peak_import_kw": round(float(p.max()), 3),
        "peak_import_time_s": float(p.idxmax()),
        "min_import_kw": round(float(p.min()), 3),
        "v_min_pu": round(float(vmin.min()), 5),
        "v_max_pu": round(float(vmax.max()), 5),
        "ansi_a_violation_node_steps": int(ansi_a.sum()),
        "ansi_a_steps_with_violation": int((ansi_a > 0).sum()),
        "ansi_b_violation_node_steps": int(ansi_b.sum()),
        "losses_kwh": round(float(losses.sum() * dt_h), 3),
        "losses_pct_of_import": round(100.0 * float(losses.sum() * dt_h) / imported, 3)
        if imported > 0 else None,
        "all_converged": bool(converged.min() >= 1.0) if not converged.empty else None,
        **extra,
    }


def node_distances(feeder: str) -> pd.Series:
    """Distance of every node from the source along the lines [km].

    OpenDSS computes distances inside an EnergyMeter zone, so a meter is placed on the first
    power-delivery element leaving the source bus.
    """
    import opendssdirect as dss

    import feeders

    model = feeders.load(feeder)
    for command in model.dss_commands():
        dss.Text.Command(command)
    source = model.source_bus.lower()
    for name in dss.PDElements.AllNames():
        dss.Circuit.SetActiveElement(name)
        if dss.CktElement.BusNames()[0].split(".")[0].lower() == source:
            dss.Text.Command(f"New EnergyMeter.gridfed_distance element={name} terminal=1")
            break
    dss.Solution.Solve()
    names = [n.lower() for n in dss.Circuit.AllNodeNames()]
    return pd.Series(np.asarray(dss.Circuit.AllNodeDistances()), index=names)


def grid_plots(name: str, feeder: str, ts: pd.DataFrame, plots_dir: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    p = scalar(ts, f"{name}.pcc_p_kw")
    q = scalar(ts, f"{name}.pcc_q_kvar")
    hours = p.index / 3600.0
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.plot(hours, p.values, label="P import [kW]")
    ax.plot(q.index / 3600.0, q.values, label="Q import [kvar]")
    ax.set_xlabel("time [h]")
    ax.set_ylabel("power at PCC")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(plots_dir / "pcc_power.png", dpi=110)
    plt.close(fig)
    written.append("pcc_power.png")

    vmin = scalar(ts, f"{name}.v_min_pu")
    vmax = scalar(ts, f"{name}.v_max_pu")
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.fill_between(vmin.index / 3600.0, vmin.values, vmax.values, alpha=0.35, label="min-max")
    ax.plot(vmin.index / 3600.0, vmin.values, lw=0.8)
    ax.plot(vmax.index / 3600.0, vmax.values, lw=0.8)
    for bound, style in ((0.95, "--"), (1.05, "--"), (0.917, ":"), (1.058, ":")):
        ax.axhline(bound, color="red", ls=style, lw=0.8)
    ax.set_xlabel("time [h]")
    ax.set_ylabel("voltage [pu]")
    ax.set_title("Voltage envelope (dashed: ANSI A, dotted: ANSI B)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(plots_dir / "voltage_envelope.png", dpi=110)
    plt.close(fig)
    written.append("voltage_envelope.png")

    volts = wide(ts, f"{name}.v_pu")
    if not volts.empty:
        peak_t = p.idxmax()
        at_peak = volts.loc[peak_t]
        dist = node_distances(feeder)
        at_peak = at_peak[at_peak > 0.1]
        x = dist.reindex([n.lower() for n in at_peak.index]).to_numpy()
        phase = np.array([n.rsplit(".", 1)[-1] for n in at_peak.index])
        fig, ax = plt.subplots(figsize=(9, 4))
        for ph, color in (("1", "tab:blue"), ("2", "tab:orange"), ("3", "tab:green")):
            mask = phase == ph
            ax.scatter(x[mask], at_peak.values[mask], s=10, color=color, label=f"phase {ph}")
        ax.axhline(0.95, color="red", ls="--", lw=0.8)
        ax.axhline(1.05, color="red", ls="--", lw=0.8)
        ax.set_xlabel("distance from source [km]")
        ax.set_ylabel("voltage [pu]")
        ax.set_title(f"Voltage profile at peak import (t = {peak_t / 3600:.2f} h)")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(plots_dir / "voltage_profile_peak.png", dpi=110)
        plt.close(fig)
        written.append("voltage_profile_peak.png")
    return written


def grid_report(name: str, config: GridConfig, ts: pd.DataFrame, plots_dir: Path | None) -> dict:
    metrics = grid_metrics(name, ts)
    if metrics and plots_dir is not None:
        metrics["plots"] = grid_plots(name, config.feeder, ts, Path(plots_dir))
    return metrics
