"""Post-run metrics and plots of an attack/mitigation run, from the recorded series.

Windows (the seed's table layout), each `window_s` long unless the run is shorter:
- pre_attack:  [start - W, start)
- post_attack: [start, effect), before mitigation acts; `effect` is the first market
  period that begins after the first coefficient update (or one step after it without
  a recorded schedule, or the attack end without mitigation);
- mitigated:   [end - W, end), the end of the attack (or of the run if it is open).
The attack start/end come from the attacker's recorded ground truth ('<attacker>.active'),
which the manager never sees; without an attacker they are estimated from the detector.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from federates.common.series import scalar, summed
from federates.resilience import targets
from federates.resilience.config import ResilienceConfig

WINDOW_S = 900.0
RESTORE_TOL = 0.02
NO_ATTACK_DIR = Path("counterfactual") / "no_attack"  # written by `gridfed run --counterfactual`


def _prefix(key: str) -> str:
    return key.split("/", 1)[0] if key else ""


def attacker_prefix(ts: pd.DataFrame) -> str | None:
    """Name of the recorded attacker (its AttackState gives '<name>.active')."""
    for s in sorted(ts["signal"].unique()):
        m = re.fullmatch(r"(\w+)\.active", s)
        if m:
            return m.group(1)
    return None


def attacked_buses(ts: pd.DataFrame) -> set[str]:
    """Buses the attacker reports as attacked at any time (ground truth)."""
    name = attacker_prefix(ts)
    if name is None:
        return set()
    sel = ts[(ts["signal"] == f"{name}.attacked") & (ts["value"] > 0)]
    return {str(b) for b in sel["id"].unique()}


def attack_interval(ts: pd.DataFrame, rm: str, step: float) -> tuple[float | None, float | None]:
    """(start, end) of the first attack: ground truth if recorded, else from the detector."""
    name = attacker_prefix(ts)
    if name is not None:
        active = scalar(ts, f"{name}.active")
        on = active[active > 0]
        if on.empty:
            return None, None
        start = float(on.index[0])
        off = active[(active.index > start) & (active <= 0)]
        return start, float(off.index[0]) if not off.empty else None
    detected = scalar(ts, f"{rm}.detected")
    on = detected[detected > 0]
    if on.empty:
        return None, None
    start = float(on.index[0]) - step
    off = detected[(detected.index > on.index[0]) & (detected <= 0)]
    return start, float(off.index[0]) if not off.empty else None


def population_prefix(ts: pd.DataFrame) -> str | None:
    """Name of the recorded device population (its PopulationSummary)."""
    for s in sorted(ts["signal"].unique()):
        m = re.fullmatch(r"(\w+)\.hvac_on_fraction", s)
        if m:
            return m.group(1)
    return None


def _by_id(ts: pd.DataFrame, signal: str, ids: tuple[str, ...]) -> pd.Series:
    sel = ts[(ts["signal"] == signal) & ts["id"].isin(ids)]
    return sel.groupby("time")["value"].sum().sort_index()


def window_stats(ts: pd.DataFrame, lo: float, hi: float, sig: dict[str, str]) -> dict[str, Any]:
    """Means (and extremes for voltages) of the window [lo, hi)."""

    def mean(s: pd.Series) -> float | None:
        w = s[(s.index >= lo) & (s.index < hi)]
        return round(float(w.mean()), 3) if len(w) else None

    def sel(s: pd.Series) -> pd.Series:
        return s[(s.index >= lo) & (s.index < hi)]

    out: dict[str, Any] = {"from_s": lo, "to_s": hi}
    out["pcc_import_kw"] = mean(scalar(ts, sig["pcc"]))
    out["total_load_kw"] = mean(summed(ts, sig["load"])) if sig["load"] else None
    for key in ("total_cost", "curtailment_kw"):
        out[key] = mean(scalar(ts, f"{sig['market']}.{key}")) if sig["market"] else None
    vmin, vmax = sel(scalar(ts, f"{sig['grid']}.v_min_pu")), sel(
        scalar(ts, f"{sig['grid']}.v_max_pu"))
    out["v_min_pu"] = round(float(vmin.min()), 5) if len(vmin) else None
    out["v_max_pu"] = round(float(vmax.max()), 5) if len(vmax) else None
    ansi = sel(scalar(ts, f"{sig['grid']}.ansi_a_violations"))
    out["ansi_a_violation_node_steps"] = int(ansi.sum()) if len(ansi) else None
    island = scalar(ts, f"{sig['grid']}.island_p_kw")
    if len(island) and (island != 0).any():  # islanded: the grid-forming unit's output
        out["grid_forming_kw"] = mean(island)
        out["grid_forming_scheduled_kw"] = mean(scalar(ts, f"{sig['market']}.grid_forming_p_kw"))
    pop = sig.get("population")
    if pop:
        gen = mean(-_by_id(ts, f"{pop}.load_kw", ("pv", "battery")))
        out["local_generation_kw"] = gen
        out["flexible_load_kw"] = mean(_by_id(ts, f"{pop}.load_kw", ("hvac", "waterheater",
                                                                      "ev")))
        out["dispatched_agents"] = mean(scalar(ts, f"{pop}.dispatched_agents"))
        out["attacked_agents"] = mean(scalar(ts, f"{pop}.attacked_agents"))
    return out


def report_signals(name: str, config: ResilienceConfig, ts: pd.DataFrame) -> dict[str, str]:
    """Recorded signal names `window_stats` reads (grid, market, population of the run)."""
    grid, market = _prefix(config.pcc_key), _prefix(config.schedule_key)
    pcc = f"{grid}.pcc_p_kw" if not scalar(ts, f"{grid}.pcc_p_kw").empty else \
        f"{name}.measured_kw"
    load = f"{grid}.bus_p_kw" if (ts["signal"] == f"{grid}.bus_p_kw").any() else ""
    return {"pcc": pcc, "grid": grid, "market": market, "load": load,
            "population": population_prefix(ts) or ""}


def resilience_metrics(name: str, config: ResilienceConfig, ts: pd.DataFrame,
                       window_s: float = WINDOW_S,
                       no_attack: pd.DataFrame | None = None) -> dict[str, Any]:
    """Windows, event times and the targets; `no_attack` is the same scenario's run without
    the attack (the counterfactual reference at the same times), when there is one."""
    measured = scalar(ts, f"{name}.measured_kw")
    if measured.empty:
        return {}
    step = float(np.median(np.diff(measured.index))) if len(measured) > 1 else 0.0
    sig = report_signals(name, config, ts)
    market, pcc = sig["market"], sig["pcc"]
    start, end = attack_interval(ts, name, step)
    detected = scalar(ts, f"{name}.detected")
    updates = scalar(ts, f"{name}.updates")
    out: dict[str, Any] = {"attack_start_s": start, "attack_end_s": end,
                           "detection_time_s": None, "detection_delay_s": None,
                           "first_update_s": None, "time_to_restore_s": None}
    if start is None:
        return out
    on = detected[(detected.index >= start) & (detected > 0)]
    if not on.empty:
        out["detection_time_s"] = float(on.index[0])
        out["detection_delay_s"] = float(on.index[0]) - start
    upd = updates[(updates.index >= start) & (updates > 0)]
    t_end = end if end is not None else float(measured.index[-1]) + step
    effect = t_end
    if not upd.empty:
        first = float(upd.index[0])
        out["first_update_s"] = first
        periods = scalar(ts, f"{market}.period_start") if market else pd.Series(dtype=float)
        later = periods[periods > first]
        effect = float(later.iloc[0]) if not later.empty else first + step
    windows = {
        "pre_attack": (max(0.0, start - window_s), start),
        "post_attack": (start, min(effect, t_end)),
        "mitigated": (max(start, t_end - window_s), t_end),
    }
    out["windows"] = {k: window_stats(ts, lo, hi, sig) for k, (lo, hi) in windows.items()}
    # the watched quantity: PCC import, or islanded the grid-forming unit's output
    island = config.watch == "grid_forming"
    watched = "grid_forming_kw" if island else "pcc_import_kw"
    out["watched"] = "grid-forming output" if island else "import"
    pre = out["windows"]["pre_attack"].get(watched)
    if pre is not None and out["detection_time_s"] is not None:
        p = scalar(ts, f"{sig['grid']}.island_p_kw" if island else pcc)
        during = p[(p.index >= out["detection_time_s"]) & (p.index < t_end)]
        ok = (during - pre).abs() <= RESTORE_TOL * max(abs(pre), 1e-9)
        bad = during.index[~ok.to_numpy()]
        if ok.any():
            good_after = during.index[ok.to_numpy() & (during.index > (bad.max() if len(bad)
                                                                           else -np.inf))]
            if len(good_after):
                out["time_to_restore_s"] = float(good_after[0]) - start
        for key in ("post_attack", "mitigated"):
            val = out["windows"][key].get(watched)
            out[f"{key}_import_change_kw"] = round(val - pre, 3) if val is not None else None
    attacked = attacked_buses(ts)
    response = bus_response(ts, market, windows) if market else pd.Series(dtype=float)
    responding = {b for b, v in response.items() if v > 1.0 and b not in attacked}
    out["attacked_buses"] = sorted(attacked)
    out["responding_buses"] = len(responding)
    out["_response"] = response  # for the plots; dropped from the JSON
    post, mit = out["windows"]["post_attack"], out["windows"]["mitigated"]
    if post.get("local_generation_kw") is not None and mit.get("local_generation_kw") is not None:
        out["upward_generation_kw"] = round(mit["local_generation_kw"]
                                            - post["local_generation_kw"], 3)
        out["flexible_load_curtailed_kw"] = round(post["flexible_load_kw"]
                                                  - mit["flexible_load_kw"], 3)
    # islanded, the references and the period table follow the unit's output, not the PCC
    watched_sig = {**sig, "pcc": f"{sig['grid']}.island_p_kw"} if island else sig
    out.update(targets.assess(out, ts, watched_sig, config.targets, no_attack, watched))
    return out


def bus_response(ts: pd.DataFrame, market: str, windows: dict[str, tuple[float, float]]
                 ) -> pd.Series:
    """Per SMO: mean primary dispatch after the attack minus after mitigation [kW] (> 0 =
    the SMO lowered its net load: more local generation or curtailed load)."""
    sel = ts[ts["signal"] == f"{market}.primary.p_kw"]
    if sel.empty:
        return pd.Series(dtype=float)

    def mean(lo: float, hi: float) -> pd.Series:
        w = sel[(sel["time"] >= lo) & (sel["time"] < hi)]
        return w.groupby("id")["value"].mean()

    return (mean(*windows["post_attack"]) - mean(*windows["mitigated"])).dropna()


def scores_at(ts: pd.DataFrame, name: str, time: float) -> pd.Series:
    rs = ts[(ts["signal"] == f"{name}.scores.resilience") & (ts["time"] <= time)]
    if rs.empty:
        return pd.Series(dtype=float)
    return rs[rs["time"] == rs["time"].max()].set_index("id")["value"]


def plot_response_vs_score(response: pd.Series, rs: pd.Series, attacked: set[str],
                           path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    both = pd.concat([rs.rename("rs"), response.rename("dp")], axis=1).dropna()
    fig, ax = plt.subplots(figsize=(6, 4))
    hit = both.index.isin(list(attacked))
    ax.scatter(both["rs"][~hit], both["dp"][~hit], s=14, label="trustable / other SMOs")
    ax.scatter(both["rs"][hit], both["dp"][hit], s=30, c="red", label="attacked SMOs")
    ax.set_xlabel("resilience score at the end of the attack")
    ax.set_ylabel("net-load reduction by mitigation [kW]")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_feeder_map(feeder: str, attacked: set[str], trusted: set[str], responding: set[str],
                    path: Path) -> Path | None:
    """Buses on the feeder's coordinates: attacked (red), responding (green), trusted (blue)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    try:
        import feeders

        coords = feeders.load(feeder).bus_coords
    except Exception:  # noqa: BLE001 - no map without coordinates
        return None
    if not coords:
        return None
    fig, ax = plt.subplots(figsize=(7, 6))
    xy = np.array(list(coords.values()))
    ax.scatter(xy[:, 0], xy[:, 1], s=6, c="lightgrey", label="bus")
    for group, color, label, size in ((trusted, "tab:blue", "trustable", 18),
                                      (responding, "tab:green", "responding", 30),
                                      (attacked, "red", "attacked", 60)):
        pts = np.array([coords[b] for b in group if b in coords])
        if len(pts):
            ax.scatter(pts[:, 0], pts[:, 1], s=size, c=color, label=label)
    ax.set_axis_off()
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_pcc(name: str, ts: pd.DataFrame, metrics: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4))
    watched = metrics.get("watched", "import")  # islanded: the grid-forming output
    for sig, label in ((f"{name}.measured_kw", f"measured {watched}"),
                       (f"{name}.scheduled_kw", "market schedule"),
                       (f"{name}.reference_kw", "reference")):
        s = scalar(ts, sig)
        if not s.empty:
            ax.plot(s.index / 3600, s.values, label=label, drawstyle="steps-post")
    marks = (("attack_start_s", "red", "attack"), ("detection_time_s", "orange", "detected"),
             ("first_update_s", "green", "mitigation"), ("attack_end_s", "grey", "attack end"))
    for key, color, label in marks:
        if metrics.get(key) is not None:
            ax.axvline(metrics[key] / 3600, color=color, ls="--", lw=1, label=label)
    ax.set_xlabel("time [h]")
    ax.set_ylabel("PCC import [kW]" if watched == "import" else f"{watched} [kW]")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


ROWS = (("PCC import [kW]", "pcc_import_kw"), ("Total cost (market) [$]", "total_cost"),
        ("Total load [kW]", "total_load_kw"), ("Local generation [kW]", "local_generation_kw"),
        ("Flexible load [kW]", "flexible_load_kw"), ("Market curtailment [kW]",
                                                     "curtailment_kw"),
        ("Min voltage [pu]", "v_min_pu"), ("Max voltage [pu]", "v_max_pu"),
        ("ANSI A violations [node-steps]", "ansi_a_violation_node_steps"))
ISLAND_ROWS = (("Grid-forming output [kW]", "grid_forming_kw"),
               ("Grid-forming schedule [kW]", "grid_forming_scheduled_kw"))


def markdown(name: str, metrics: dict[str, Any]) -> str:
    """The seed's table layout: three windows side by side, then the event times."""
    lines = [f"## Attack and mitigation ({name})", ""]
    windows = metrics.get("windows")
    if not windows:
        return "\n".join(lines + ["No attack was recorded or detected.", ""])
    pre = windows["pre_attack"].get("pcc_import_kw")

    def cell(key: str, row: str) -> str:
        v = windows[key].get(row)
        if v is None:
            return "-"
        if row == "pcc_import_kw" and key != "pre_attack" and pre:
            return f"{v:,.1f} ({100 * (v - pre) / abs(pre):+.1f}%)"
        if isinstance(v, int):
            return str(v)
        return f"{v:,.3f}" if abs(v) < 10 else f"{v:,.1f}"

    lines += ["| | Pre-attack | Post-attack | Attack mitigation |", "|---|---|---|---|"]
    island = [r for r in ISLAND_ROWS if windows["pre_attack"].get(r[1]) is not None]
    for label, row in (*ROWS[:1], *island, *ROWS[1:]):
        lines.append(f"| {label} | " + " | ".join(cell(k, row) for k in (
            "pre_attack", "post_attack", "mitigated")) + " |")
    spans = ", ".join(f"{k} [{w['from_s']:g}, {w['to_s']:g}) s" for k, w in windows.items())
    lines += ["", f"Windows: {spans}.", ""]
    facts = (("Attack start [s]", "attack_start_s"), ("Attack end [s]", "attack_end_s"),
             ("Detection time [s]", "detection_time_s"),
             ("Detection delay [s]", "detection_delay_s"),
             ("First coefficient update [s]", "first_update_s"),
             (f"Time to restore {metrics.get('watched', 'import')} within 2% [s after start]",
              "time_to_restore_s"),
             ("Upward generation used [kW]", "upward_generation_kw"),
             ("Flexible load curtailed [kW]", "flexible_load_curtailed_kw"),
             ("Responding buses", "responding_buses"), ("Attacked buses", "attacked_buses"))
    lines += [f"- {label}: {metrics.get(key, '-')}" for label, key in facts]
    extra = targets.markdown(metrics)
    return "\n".join(lines) + "\n" + ("\n" + extra if extra else "")


def no_attack_series(run_dir: Path) -> pd.DataFrame | None:
    """The no-attack counterfactual's series, when `--counterfactual` left it in the folder."""
    path = run_dir / NO_ATTACK_DIR / "timeseries.parquet"
    return pd.read_parquet(path) if path.exists() else None


def resilience_report(name: str, config: ResilienceConfig, ts: pd.DataFrame,
                      plots_dir: Any) -> dict[str, Any]:
    no_attack = no_attack_series(Path(plots_dir).parent) if plots_dir is not None else None
    metrics = resilience_metrics(name, config, ts, no_attack=no_attack)
    response = metrics.pop("_response", pd.Series(dtype=float))
    if metrics and plots_dir is not None:
        plots = Path(plots_dir)
        plot_pcc(name, ts, metrics, plots / f"{name}_pcc_attack.png")
        targets.plot_periods(metrics, plots / f"{name}_periods.png")
        if "windows" in metrics:
            end = metrics["attack_end_s"] if metrics["attack_end_s"] is not None else float(
                ts["time"].max())
            rs = scores_at(ts, name, end)
            attacked = set(metrics["attacked_buses"])
            if len(response) and len(rs):
                plot_response_vs_score(response, rs, attacked,
                                       plots / f"{name}_response_vs_score.png")
            trusted = {b for b, v in rs.items() if v >= 0.9}
            responding = {b for b, v in response.items() if v > 1.0 and b not in attacked}
            if config.feeder:
                plot_feeder_map(config.feeder, attacked, trusted, responding,
                                plots / f"{name}_feeder_map.png")
        (plots.parent / f"{name}_attack_report.md").write_text(markdown(name, metrics))
    rs = ts[ts["signal"] == f"{name}.scores.resilience"]
    if len(rs):
        last = rs[rs["time"] == rs["time"].max()]
        metrics["final_resilience_scores"] = {
            str(k): round(float(v), 4) for k, v in zip(last["id"], last["value"], strict=True)}
    return metrics
