"""Post-run metrics and plots of a device population, from the recorded PopulationSummary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from federates.common.series import wide

TYPES = ("hvac", "waterheater", "ev", "base", "residual", "battery", "pv")


def _own(name: str, ts: pd.DataFrame) -> pd.DataFrame:
    """Rows of this federate only (the run's table also holds grid, market, ... signals)."""
    signal = ts["signal"].astype("string[pyarrow]")  # no copy when already Arrow strings
    return ts[signal.str.startswith(f"{name}.")]


def _hours(index: pd.Index) -> np.ndarray:
    return np.asarray(index, dtype=float) / 3600.0


def metrics(name: str, ts: pd.DataFrame) -> dict[str, Any]:
    load = wide(ts, f"{name}.load_kw")
    if load.empty:
        return {"recorded": False}
    t = np.asarray(load.index, dtype=float)
    dt = np.diff(t, append=t[-1] + (t[-1] - t[-2] if len(t) > 1 else 60.0))
    energy = {k: float((load[k].to_numpy() * dt).sum() / 3600.0) for k in load.columns}
    total = wide(ts, f"{name}.total_kw")
    cv = wide(ts, f"{name}.comfort_violations")
    temp = wide(ts, f"{name}.temp_c")
    out: dict[str, Any] = {
        "recorded": True,
        "energy_kwh_by_type": energy,
        "energy_kwh_total": float(sum(energy.values())),
        "peak_kw": float(total.iloc[:, 0].max()) if not total.empty else None,
        "min_kw": float(total.iloc[:, 0].min()) if not total.empty else None,
        "comfort_violation_house_steps": int(cv.iloc[:, 0].sum()) if not cv.empty else 0,
        "comfort_violations_max": int(cv.iloc[:, 0].max()) if not cv.empty else 0,
    }
    if not temp.empty:
        out["indoor_temp_c"] = {"min_p5": float(temp["p5"].min()),
                                "max_p95": float(temp["p95"].max())}
    for sig, key in (("soc", "battery_soc"), ("ev_soc", "ev_soc")):
        w = wide(ts, f"{name}.{sig}")
        if not w.empty:
            out[key] = {"min_p5": float(w["p5"].min()), "max_p95": float(w["p95"].max())}
    for sig in ("attacked_agents", "dispatched_agents"):
        w = wide(ts, f"{name}.{sig}")
        if not w.empty:
            out[f"{sig}_max"] = int(w.iloc[:, 0].max())
    return out


def _bands(ax: Any, w: pd.DataFrame, color: str, label: str) -> None:
    h = _hours(w.index)
    ax.fill_between(h, w["p5"], w["p95"], color=color, alpha=0.2, label=f"{label} p5-p95")
    ax.fill_between(h, w["p25"], w["p75"], color=color, alpha=0.4, label=f"{label} p25-p75")
    ax.plot(h, w["p50"], color=color, label=f"{label} median")


def plots(name: str, ts: pd.DataFrame, plots_dir: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots_dir.mkdir(parents=True, exist_ok=True)
    written = []
    load = wide(ts, f"{name}.load_kw")
    if not load.empty:
        fig, ax = plt.subplots(figsize=(9, 4.5))
        h = _hours(load.index)
        for k in [c for c in TYPES if c in load.columns]:
            ax.plot(h, load[k], label=k)
        total = wide(ts, f"{name}.total_kw")
        if not total.empty:
            ax.plot(_hours(total.index), total.iloc[:, 0], "k", lw=2, label="total")
        ax.set(xlabel="time [h]", ylabel="power [kW] (load convention)",
               title=f"{name}: load by device type")
        ax.legend(ncol=4, fontsize=8)
        ax.grid(alpha=0.3)
        written.append(_save(fig, plots_dir / f"{name}_load_by_type.png"))
    for sig, ylabel, fname in (("temp_c", "indoor air temperature [degC]", "indoor_temperature"),
                               ("soc", "battery SOC [-]", "battery_soc")):
        w = wide(ts, f"{name}.{sig}")
        if w.empty or "p50" not in w:
            continue
        fig, ax = plt.subplots(figsize=(9, 4))
        _bands(ax, w, "tab:red" if sig == "temp_c" else "tab:green", sig)
        ax.set(xlabel="time [h]", ylabel=ylabel, title=f"{name}: {ylabel}")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        written.append(_save(fig, plots_dir / f"{name}_{fname}.png"))
    return written


def _save(fig: Any, path: Path) -> str:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def report(name: str, timeseries: pd.DataFrame, plots_dir: Any) -> dict[str, Any]:
    timeseries = _own(name, timeseries)
    out = metrics(name, timeseries)
    if out.get("recorded") and plots_dir is not None:
        out["plots"] = [Path(p).name for p in plots(name, timeseries, Path(plots_dir))]
    return out
