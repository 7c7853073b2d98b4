"""Plots of an attack/mitigation run: the watched import with the events, the SMOs'
response against their scores, the feeder map and the market periods around the attack."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from federates.common.plotting import figure, legend_outside, save
from federates.common.series import scalar
from federates.resilience.targets import REFERENCES

TRUSTED_SCORE = 0.9
"""An SMO is *trusted* when its resilience score RS (= TS^w * CS^(1-w), trust and
commitment; see scores.py) is at least this at the end of the attack."""
RESPONDING_KW = 1.0
"""An SMO *responded* when mitigation lowered its mean primary dispatch by more than this."""

SCHEDULE_NOTE = {
    "import": "market schedule: the import the market plans for the period -- its power "
              "flow of the cleared SMO setpoints plus the non-market load measured per bus",
    "grid_forming": "market schedule: the grid-forming unit's output the market plans for "
                    "the period -- in its power flow, the island's load (cleared SMO "
                    "setpoints plus the non-market load measured per bus) plus losses"}
SCHEDULE_CUT = ("; at an SMO whose links are cut the last reported load is held, so an "
                "attack there is not in the schedule. Mitigation lowers the schedule until "
                "the measured {short} is back at the reference.")
EVENTS = (("attack_start_s", "attack start", "red", "v"),
          ("detection_time_s", "detected", "darkorange", "o"),
          ("first_update_s", "first mitigation update", "green", "s"),
          ("attack_end_s", "attack end", "grey", "^"))


def plot_pcc(name: str, ts: pd.DataFrame, metrics: dict[str, Any], path: Path) -> Path:
    """Measured import (or grid-forming output), the market schedule and the reference; the
    attack window shaded; each event a marker on its own row above the curves, so events at
    the same time do not hide one another."""
    fig, ax = figure(figsize=(11, 5))
    watched = metrics.get("watched", "import")  # islanded: the grid-forming output
    series = {}
    for sig, label in ((f"{name}.measured_kw", f"measured {watched}"),
                       (f"{name}.scheduled_kw", "market schedule (see note)"),
                       (f"{name}.reference_kw", "reference the manager restores")):
        s = scalar(ts, sig)
        if not s.empty:
            series[sig] = s
            ax.plot(s.index / 3600, s.values, label=label, drawstyle="steps-post")
    start, end = metrics.get("attack_start_s"), metrics.get("attack_end_s")
    t_last = float(ts["time"].max())
    if start is not None:
        ax.axvspan(start / 3600, (end if end is not None else t_last) / 3600, color="red",
                   alpha=0.08, label="attack active (attacker's ground truth)")
    values = np.concatenate([s.to_numpy(dtype=float) for s in series.values()]) \
        if series else np.zeros(1)
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    span = max(hi - lo, 1.0)
    rows = [e for e in EVENTS if metrics.get(e[0]) is not None]
    top = hi + span * (0.08 + 0.09 * len(rows))
    ax.set_ylim(lo - 0.05 * span, top + 0.04 * span)
    for k, (key, label, color, marker) in enumerate(rows):
        t = metrics[key]
        y = hi + span * (0.08 + 0.09 * (len(rows) - 1 - k) + 0.045)
        delay = "" if key == "attack_start_s" or start is None else \
            f", start + {t - start:g} s"
        ax.plot([t / 3600] * 2, [lo - span, y], color=color, lw=0.7, ls=":")
        ax.plot(t / 3600, y, marker=marker, color=color, ms=8, ls="none",
                label=f"{label}: {t / 3600:.3f} h{delay}")
    meas, sched = series.get(f"{name}.measured_kw"), series.get(f"{name}.scheduled_kw")
    if meas is not None and sched is not None and start is not None:
        gap = (meas - sched).dropna()
        pre = gap[gap.index < start]
        during = gap[(gap.index >= start) & (gap.index < (end if end is not None else np.inf))]
        text = f"measured - schedule, mean: {pre.mean():,.0f} kW before the attack" \
            if len(pre) else "measured - schedule"
        if len(during):
            text += f",\n{during.mean():,.0f} kW during it"
        ax.plot([], [], " ", label=text)
    island = watched != "import"
    note = SCHEDULE_NOTE["grid_forming" if island else "import"] + SCHEDULE_CUT.format(
        short="output" if island else "import")
    ax.plot([], [], " ", label=textwrap.fill(note, 66))
    unit = "PCC import [kW]" if watched == "import" else f"{watched} [kW]"
    ax.set(xlabel="time [h]", ylabel=unit,
           title=f"{name}: {watched} under attack, detection and mitigation")
    ax.grid(alpha=0.3)
    legend_outside(ax, fontsize=7)
    return save(fig, path)


def plot_response_vs_score(response: pd.Series, rs: pd.Series, attacked: set[str],
                           path: Path) -> Path:
    both = pd.concat([rs.rename("rs"), response.rename("dp")], axis=1).dropna()
    fig, ax = figure(figsize=(8, 4.5))
    hit = both.index.isin(list(attacked))
    ax.scatter(both["rs"][~hit], both["dp"][~hit], s=14, label="SMOs not attacked")
    ax.scatter(both["rs"][hit], both["dp"][hit], s=40, c="red", marker="X",
               label="attacked SMOs")
    ax.axvline(TRUSTED_SCORE, color="grey", ls="--", lw=0.8,
               label=f"trusted from score {TRUSTED_SCORE:g} on")
    ax.axhline(0.0, color="black", lw=0.5)
    ax.set(xlabel="resilience score at the end of the attack [-]",
           ylabel="net-load reduction by mitigation [kW]",
           title="Response of each SMO to mitigation against its resilience score")
    ax.grid(alpha=0.3)
    legend_outside(ax)
    return save(fig, path)


def tree_layout(feeder: Any) -> dict[str, tuple[float, float]]:
    """Bus (x, y) of a radial feeder: x = hops from the source, y = leaf order of a
    depth-first walk (a parent sits at the mean of its children)."""
    net = feeder.network
    kids = net.children()
    root = int(np.flatnonzero(net.parent() < 0)[0])
    pos: dict[int, tuple[float, float]] = {}
    leaf = [0.0]

    def walk(b: int, depth: int) -> float:
        ys = [walk(c, depth + 1) for c in kids[b]]
        if not ys:
            ys, leaf[0] = [leaf[0]], leaf[0] + 1.0
        pos[b] = (float(depth), float(np.mean(ys)))
        return pos[b][1]

    walk(root, 0)
    return {net.buses[b]: xy for b, xy in pos.items()}


def _edges(feeder: Any, coords: dict[str, tuple[float, float]]) -> tuple[list, list]:
    """Segments of the feeder's live branches (lines, switches, transformers) and of its
    normally open lines, between buses with coordinates."""
    net = feeder.network
    live = [(coords[net.buses[f]], coords[net.buses[t]])
            for f, t in zip(net.from_bus.tolist(), net.to_bus.tolist(), strict=True)
            if net.buses[f] in coords and net.buses[t] in coords]
    lines = feeder.tables.lines
    open_ = lines[(lines["normally_open"] == 1) & lines["bus1"].isin(list(coords))
                  & lines["bus2"].isin(list(coords))]
    return live, [(coords[a], coords[b]) for a, b in zip(open_["bus1"], open_["bus2"],
                                                         strict=True)]


def plot_feeder_map(feeder_name: str, attacked: set[str], scores: pd.Series,
                    responding: set[str], path: Path) -> Path | None:
    """The feeder's lines and buses; SMOs marked attacked, responding, trusted or not."""
    from matplotlib.collections import LineCollection

    try:
        import feeders

        feeder = feeders.load(feeder_name)
    except Exception:  # noqa: BLE001 - no map of an unknown feeder
        return None
    coords = dict(feeder.bus_coords)
    note = ("IEEE one-line diagram coordinates" if feeder.name.startswith("ieee") else
            "the feeder data's layout coordinates") + ", not to scale"
    if not coords or any(b not in coords for b in feeder.network.buses):
        coords, note = tree_layout(feeder), "tree layout: x = hops from the substation"
    live, open_ = _edges(feeder, coords)
    fig, ax = figure(figsize=(10, 7.5))
    ax.add_collection(LineCollection(live, colors="0.55", linewidths=1.0,
                                     label="line, switch or transformer"))
    if open_:
        ax.add_collection(LineCollection(open_, colors="0.55", linewidths=1.0,
                                         linestyles="--", label="normally open switch"))
    xy = np.array([coords[b] for b in feeder.network.buses if b in coords])
    ax.scatter(xy[:, 0], xy[:, 1], s=5, c="0.4", zorder=2, label="bus")
    src = coords.get(feeder.source_bus)
    if src is not None:
        ax.scatter(*src, s=90, marker="s", c="black", zorder=3,
                   label=f"substation (bus {feeder.source_bus})")
    trusted = {b for b, v in scores.items() if v >= TRUSTED_SCORE}
    groups = (
        (trusted, dict(s=70, facecolors="none", edgecolors="tab:blue", linewidths=1.4),
         f"trusted SMO: resilience score >= {TRUSTED_SCORE:g} at the attack end"),
        (set(scores.index) - trusted,
         dict(s=70, facecolors="none", edgecolors="tab:purple", linewidths=1.4),
         f"SMO with resilience score < {TRUSTED_SCORE:g}"),
        (responding, dict(s=22, c="tab:green"),
         f"responding SMO: mitigation lowered its dispatch > {RESPONDING_KW:g} kW"),
        (attacked, dict(s=40, c="red", marker="x", linewidths=2.5),
         "attacked SMO (attacker's ground truth)"))
    for group, style, label in groups:
        pts = np.array([coords[str(b)] for b in group if str(b) in coords])
        if len(pts):
            ax.scatter(pts[:, 0], pts[:, 1], zorder=4, label=f"{label} ({len(pts)})", **style)
    ax.autoscale_view()
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_axis_off()
    ax.set_title(f"Feeder {feeder_name}: SMOs at the end of the attack\n({note})")
    legend_outside(ax)
    return save(fig, path)


def plot_periods(metrics: dict[str, Any], path: Any) -> Any:
    """Per market period: import against both references (top); the market's re-dispatch and
    the devices' response against the last pre-attack period (bottom). None without data."""
    periods = metrics.get("periods") or []
    refs = metrics.get("references") or {}
    if not periods or "pre_attack" not in refs:
        return None
    t = np.array([r["from_s"] for r in periods]) / 3600
    col = {k: np.array([np.nan if r.get(k) is None else r[k] for r in periods], dtype=float)
           for k in ("import_kw", "no_attack_kw", "local_generation_kw", "flexible_load_kw")}
    before = [i for i, r in enumerate(periods) if r["to_s"] <= metrics["attack_start_s"] + 1e-9]
    base = before[-1] if before else 0
    changes = {c["from_s"]: c for c in metrics.get("redispatch") or []}
    fig, (top, bot) = figure(2, 1, figsize=(11, 6.5), sharex=True)
    fig.suptitle("Market periods around the attack (period means)")
    top.step(t, col["import_kw"], where="post", label="import (period mean)")
    if not np.all(np.isnan(col["no_attack_kw"])):
        top.step(t, col["no_attack_kw"], where="post", ls="--", label=REFERENCES["no_attack"])
    pre = metrics["windows"]["pre_attack"]["pcc_import_kw"]
    if pre is not None:
        top.axhline(pre, color="grey", ls=":", label=REFERENCES["pre_attack"])
    top.set(ylabel="PCC import [kW]", title="Import against the references")
    for key, label in (("local_generation_kw", "local generation change"),
                       ("flexible_load_kw", "flexible load curtailed (> 0)")):
        sign = 1.0 if key == "local_generation_kw" else -1.0
        bot.step(t, sign * (col[key] - col[key][base]), where="post", label=label)
    for key, label in (("primary_change_trusted_kw", "primary re-dispatch, SMOs not attacked"),
                       ("secondary_shortfall_kw", "secondary shortfall")):
        y = np.array([changes.get(r["from_s"], {}).get(key, np.nan) for r in periods])
        bot.step(t, y, where="post", label=label)
    bot.set(xlabel="time [h]", ylabel="change [kW]",
            title="Response against the last pre-attack period")
    for ax in (top, bot):
        ax.axvline(metrics["attack_start_s"] / 3600, color="red", ls="--", lw=1,
                   label="attack start")
        ax.grid(alpha=0.3)
        legend_outside(ax)
    return save(fig, path)
