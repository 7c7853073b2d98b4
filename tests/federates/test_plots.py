"""Every plot the reports write reads at a glance: a title, units on both axes, a legend
that covers no data, tick labels that do not collide.

A two-hour run on the IEEE 13 feeder is built in memory in the recorder's long format
(time, signal, id, value); each kind's report draws from it, and every figure is checked
just before it is saved (`plotting.inspecting`).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.path import Path as MplPath
from matplotlib.transforms import Bbox

import feeders
from federates.common import plotting
from federates.grid.config import GridConfig
from federates.grid.report import grid_report
from federates.iot.report import report as iot_report
from federates.market.config import MarketConfig
from federates.market.report import market_report
from federates.resilience.config import ResilienceConfig
from federates.resilience.plots import TRUSTED_SCORE, tree_layout
from federates.resilience.report import resilience_report

FEEDER = "ieee13"
STEP = 60.0
SMOS = ("671", "634", "645", "646", "692", "675", "611", "652", "670")
ATTACK = (2400.0, 6000.0)
UNIT = re.compile(r"\[[^\]]+\]|\([^)]+\)")


def series() -> pd.DataFrame:
    """Grid, population, market, resilience manager and attacker signals of a 2 h run: an
    attack at SMO 671 from 40 to 100 min, detected and mitigated at its first step."""
    rows: list[tuple[float, str, str, float]] = []

    def add(t: float, signal: str, value: float, ident: str = "") -> None:
        rows.append((t, signal, ident, float(value)))

    net = feeders.load(FEEDER).network
    nodes = [f"{b}.{p}" for b, phases in zip(net.buses, net.bus_phases, strict=True)
             for p in phases]
    dist = np.linspace(0.0, 1.0, len(net.buses))
    for k in range(121):
        t = k * STEP
        attacked = ATTACK[0] <= t < ATTACK[1]
        mitigated = attacked and t >= ATTACK[0] + 900
        p = 3400 + 300 * np.sin(t / 3000) + (120 if attacked and not mitigated else 0)
        for sig, v in (("pcc_p_kw", p), ("pcc_q_kvar", 0.4 * p), ("v_min_pu", 0.96),
                       ("v_max_pu", 1.04), ("ansi_a_violations", 0), ("ansi_b_violations", 0),
                       ("losses_kw", 0.03 * p), ("converged", 1)):
            add(t, f"grid.{sig}", v)
        for i, node in enumerate(nodes):
            add(t, "grid.v_pu", 1.04 - 0.06 * i / len(nodes), node)
        for s in SMOS:
            add(t, "grid.bus_p_kw", p / len(SMOS), s)
        add(t, "houses.hvac_on_fraction", 0.5)
        for i, kind in enumerate(("hvac", "waterheater", "ev", "base", "pv", "battery")):
            add(t, "houses.load_kw", (300 - 80 * i) * (1 + 0.1 * np.sin(t / 1800)), kind)
        add(t, "houses.total_kw", p - 500)
        add(t, "houses.comfort_violations", 0)
        for j, q in enumerate(("p5", "p25", "p50", "p75", "p95")):
            add(t, "houses.temp_c", 22 + j * 0.5 + np.sin(t / 2000), q)
            add(t, "houses.soc", 0.3 + 0.1 * j + 0.05 * np.sin(t / 2000), q)
        add(t, "rm.measured_kw", p)
        add(t, "rm.scheduled_kw", p - 15 - (700 if mitigated else 0))
        add(t, "rm.reference_kw", 3400 + 300 * np.sin(min(t, ATTACK[0]) / 3000))
        add(t, "rm.detected", attacked)
        add(t, "rm.updates", int(attacked) + int(mitigated))
        add(t, "attacker.active", attacked)
        add(t, "attacker.attacked", attacked, "671")
        for s in SMOS:
            add(t, "rm.scores.resilience", 0.2 if attacked and s == "671" else 0.95, s)
        if t % 300 == 0:  # a market clearing every 5 min
            add(t, "market.period_start", t)
            add(t, "market.period_end", t + 300)
            for sig, v in (("total_cost", 700 + p / 10), ("welfare", 20), ("curtailment_kw", 5),
                           ("generation_kw", 100), ("pcc_p_kw", p - 15), ("exact", 1),
                           ("relaxation_gap", 0), ("v_violation_pu", 0), ("solve_ms", 30)):
                add(t, f"market.{sig}", v)
            for b, d in zip(net.buses, dist, strict=True):
                parts = {"energy": 0.22, "losses": 0.004 * d, "voltage": -0.006 * d * d,
                         "congestion": 0.002 if d > 0.7 else 0.0}
                for c, v in parts.items():
                    add(t, f"market.dlmp_{c}", v, b)
                add(t, "market.dlmp", sum(parts.values()), b)
            for i, s in enumerate(SMOS):
                p0 = 200 + 20 * i
                moved = 10 * i + (40 if mitigated and s != "671" else 0)
                for sig, v in (("p0_kw", p0), ("p_min_kw", p0 - 100), ("p_max_kw", p0 + 50),
                               ("p_kw", p0 - moved)):
                    add(t, f"market.primary.{sig}", v, s)
                add(t, "market.secondary.p_kw", p0 - moved + 3, s)
    return pd.DataFrame(rows, columns=["time", "signal", "id", "value"])


# ---------------------------------------------------------------- figure checks
def _display_paths(ax) -> list[tuple[MplPath, bool]]:
    """The axes' data in display coordinates: (path, filled) pairs."""
    from matplotlib.cbook import STEP_LOOKUP_MAP
    from matplotlib.collections import LineCollection, PathCollection, PolyCollection

    out: list[tuple[MplPath, bool]] = []
    for line in ax.get_lines():
        xy = np.asarray(line.get_xydata(), dtype=float)
        if not line.get_visible() or len(xy) == 0:
            continue
        x, y = STEP_LOOKUP_MAP[line.get_drawstyle()](*xy.T)
        pts = line.get_transform().transform(np.column_stack([x, y]))
        pts = pts[np.isfinite(pts).all(axis=1)]
        if line.get_linestyle() not in ("None", "none", " ", "") and len(pts) > 1:
            out.append((MplPath(pts), False))
        if line.get_marker() not in ("None", "none", " ", "", None):
            out += [(MplPath(np.array([p, p])), False) for p in pts]
    for coll in ax.collections:
        if isinstance(coll, PathCollection):  # scatter
            pts = coll.get_offset_transform().transform(coll.get_offsets())
            out += [(MplPath(np.array([p, p])), False) for p in pts]
        elif isinstance(coll, (PolyCollection, LineCollection)):
            filled = not isinstance(coll, LineCollection)
            out += [(coll.get_transform().transform_path(p), filled) for p in coll.get_paths()]
        else:  # meshes, images: their whole extent
            e = coll.get_window_extent()
            out.append((MplPath([[e.x0, e.y0], [e.x1, e.y0], [e.x1, e.y1], [e.x0, e.y1],
                                 [e.x0, e.y0]]), True))
    for artist in [*ax.patches, *ax.images]:
        e = artist.get_window_extent()
        out.append((MplPath([[e.x0, e.y0], [e.x1, e.y0], [e.x1, e.y1], [e.x0, e.y1],
                             [e.x0, e.y0]]), True))
    return out


def legend_overlaps(fig) -> list[str]:
    """Legends whose box covers a data point, line, filled area, bar or image of any axes."""
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    legends += list(fig.legends)
    problems = []
    for leg in legends:
        box = leg.get_window_extent()
        if not fig.bbox.contains(box.x0 + 1, box.y0 + 1) or \
                not fig.bbox.contains(box.x1 - 1, box.y1 - 1):
            problems.append(f"legend {box} leaves the figure")
        for ax in fig.axes:
            inter = Bbox.intersection(box, ax.get_window_extent())
            if inter is None or inter.width < 1 or inter.height < 1:
                continue
            for path, filled in _display_paths(ax):
                if path.intersects_bbox(inter, filled=filled):
                    problems.append(f"legend covers data of axes '{ax.get_title()}'")
                    break
    return problems


def _has_label(ax, which: str) -> str:
    """The axis label of `ax`, else that of an axes sharing the axis, else the figure's."""
    own = ax.get_xlabel() if which == "x" else ax.get_ylabel()
    if own:
        return own
    shared = ax.get_shared_x_axes() if which == "x" else ax.get_shared_y_axes()
    for other in shared.get_siblings(ax):
        label = other.get_xlabel() if which == "x" else other.get_ylabel()
        if label:
            return label
    sup = getattr(ax.figure, f"_sup{which}label", None)
    return sup.get_text() if sup is not None else ""


def figure_problems(fig) -> list[str]:
    fig.canvas.draw()
    problems = []
    suptitle = fig._suptitle.get_text() if fig._suptitle is not None else ""
    for ax in fig.axes:
        cbar = getattr(ax, "_colorbar", None)
        if cbar is not None:
            label = ax.get_ylabel() or ax.get_xlabel()
            if not UNIT.search(label):
                problems.append(f"colorbar label without unit: {label!r}")
            continue
        if not (ax.get_title() or suptitle):
            problems.append("axes without a title and no suptitle")
        if not ax.axison:
            continue
        for which in ("x", "y"):
            label = _has_label(ax, which)
            if not UNIT.search(label):
                problems.append(f"{which} label without unit: {label!r} ({ax.get_title()})")
        for getter in (ax.get_xticklabels, ax.get_yticklabels):
            labels = [t for t in getter() if t.get_visible() and t.get_text()]
            boxes = sorted((t.get_window_extent() for t in labels), key=lambda b: (b.x0, b.y0))
            if any(t.get_fontsize() < 6 for t in labels):
                problems.append(f"tick labels below 6 pt ({ax.get_title()})")
            for a, b in zip(boxes, boxes[1:], strict=False):
                i = Bbox.intersection(a, b)
                if i is not None and i.width > 0.5 and i.height > 0.5:
                    problems.append(f"tick labels overlap ({ax.get_title()})")
                    break
    return problems + legend_overlaps(fig)


# ---------------------------------------------------------------- tests
@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """Every kind's report on the in-memory run; the figures checked before saving."""
    out = tmp_path_factory.mktemp("run")
    plots = out / "plots"
    plots.mkdir()
    ts = series()
    seen: dict[str, list[str]] = {}
    figures: dict[str, dict] = {}

    def inspect(fig, path: Path) -> None:
        seen[path.name] = figure_problems(fig)
        figures[path.name] = _facts(fig)

    with plotting.inspecting(inspect):
        grid_report("grid", GridConfig(feeder=FEEDER), ts, plots)
        iot_report("houses", ts, plots)
        m = market_report("market", MarketConfig(feeder=FEEDER), ts, plots)
        assert "plot_error" not in m
        resilience_report("rm", ResilienceConfig(
            pcc_key="grid/pcc_power", schedule_key="market/pcc_schedule", feeder=FEEDER),
            ts, plots)
    return plots, seen, figures


def _facts(fig) -> dict:
    """What the kind-specific tests look at, taken from the figure before it is closed."""
    facts: dict = {"axes": []}
    for ax in fig.axes:
        leg = ax.get_legend()
        facts["axes"].append({
            "title": ax.get_title(), "ylim": ax.get_ylim(),
            "bars": [(p.get_y(), p.get_height()) for p in ax.patches
                     if type(p).__name__ == "Rectangle"],
            "legend": [t.get_text() for t in leg.get_texts()] if leg else [],
            "segments": [len(c.get_segments()) for c in ax.collections
                         if type(c).__name__ == "LineCollection"],
            "events": [(line.get_label(), tuple(ax.transData.transform(
                line.get_xydata()[0]))) for line in ax.get_lines()
                if line.get_marker() not in ("None", "none", "", None)
                and len(line.get_xydata()) == 1]})
    return facts


EXPECTED = {"pcc_power.png", "voltage_envelope.png", "voltage_profile_peak.png",
            "houses_load_by_type.png", "houses_indoor_temperature.png",
            "houses_battery_soc.png", "market_dlmp.png", "market_setpoints_vs_bids.png",
            "market_cost_welfare.png", "rm_pcc_attack.png", "rm_feeder_map.png",
            "rm_response_vs_score.png", "rm_periods.png"}


def test_every_plot_is_written_and_readable(rendered):
    plots, seen, _ = rendered
    written = {p.name for p in plots.glob("*.png")}
    assert EXPECTED <= written
    assert written == set(seen), "every PNG goes through plotting.save"
    for name in sorted(written):
        assert (plots / name).stat().st_size > 5000, name
        assert seen[name] == [], (name, seen[name])


def test_dlmp_parts_stack_by_sign_on_a_narrow_band(rendered):
    axes = {a["title"][:3]: a for a in rendered[2]["market_dlmp.png"]["axes"]}
    lo, hi = axes["(a)"]["ylim"]
    assert lo > 0.2 and hi < 0.24  # dLMPs of 0.220-0.226 $/kWh: the axis does not start at 0
    bars = axes["(b)"]["bars"]
    assert bars and all(y >= -1e-12 if h > 0 else y + h <= 1e-12 for y, h in bars if h)
    ends = [y + h for y, h in bars]
    assert min(ends) < 0 < max(ends)
    lo, hi = axes["(b)"]["ylim"]
    assert lo < min(ends) and max(ends) < hi  # no stack cut off by the axis
    assert any(t.startswith("congestion") for t in axes["(b)"]["legend"])


def test_attack_events_do_not_hide_each_other(rendered):
    (ax,) = rendered[2]["rm_pcc_attack.png"]["axes"]
    events = dict(ax["events"])
    starts = [k for k in events if k.startswith(("attack start", "detected", "first mit"))]
    assert len(starts) == 3  # all three at the same time in this run
    xy = np.array([events[k] for k in starts])
    gaps = [np.hypot(*(a - b)) for i, a in enumerate(xy) for b in xy[i + 1:]]
    assert min(gaps) > 10  # display pixels: more than a marker apart
    assert any("market schedule:" in t for t in ax["legend"])
    assert any("measured - schedule" in t for t in ax["legend"])


def test_feeder_map_draws_every_branch_and_defines_trust(rendered):
    (ax,) = rendered[2]["rm_feeder_map.png"]["axes"]
    assert ax["segments"][0] == feeders.load(FEEDER).network.n_branches
    assert any(f"resilience score >= {TRUSTED_SCORE:g}" in t for t in ax["legend"])
    assert any(t.startswith("attacked SMO") for t in ax["legend"])


def test_setpoints_name_the_smos_shown_and_why(rendered):
    axes = rendered[2]["market_setpoints_vs_bids.png"]["axes"]
    # SMO i is moved 10 i kW (plus 40 kW while mitigated unless attacked): 652, 670 first
    assert [a["title"].split(":")[0] for a in axes] == ["SMO 670", "SMO 652", "SMO 611",
                                                        "SMO 675"]


def test_tree_layout_puts_children_one_hop_right_of_their_parent():
    f = feeders.load("case33bw")
    xy = tree_layout(f)
    net = f.network
    assert set(xy) == set(net.buses)
    for a, b in zip(net.from_bus, net.to_bus, strict=True):
        assert xy[net.buses[b]][0] == xy[net.buses[a]][0] + 1
    assert len({v for v in xy.values()}) == len(xy)  # no two buses on one spot


def test_the_checks_catch_an_unreadable_plot():
    fig, ax = plotting.figure(figsize=(6, 4))
    x = np.linspace(0, 10, 200)
    ax.plot(x, np.sin(x), label="a line through the middle")
    ax.fill_between(x, -1, -0.5, label="a band")
    ax.set(xlabel="time", ylabel="power [kW]")
    ax.legend(loc="center")  # right over the line
    problems = figure_problems(fig)
    plotting.pyplot().close(fig)
    assert "axes without a title and no suptitle" in problems
    assert "x label without unit: 'time' ()" in problems
    assert any(p.startswith("legend covers data") for p in problems)
    fig, ax = plotting.figure(figsize=(6, 4))
    ax.bar(np.arange(5), [1, 2, 3, 2, 1], label="bars")
    ax.set(xlabel="bus [-]", ylabel="price [$/kWh]", title="bars only")
    ax.legend(loc="upper center")  # over the middle bar
    assert any(p.startswith("legend covers data") for p in figure_problems(fig))
    legend_outside = plotting.legend_outside(ax)
    assert legend_outside is ax.get_legend() and figure_problems(fig) == []
    plotting.pyplot().close(fig)
