"""Plots of the market report: dLMPs and their decomposition, dispatch against bids, cost.

The dLMP decomposition (energy + losses + voltage + congestion = dLMP at every bus) is
drawn relative to the energy price: the energy part is one price for the whole feeder and
dwarfs the others (0.22 $/kWh against parts of 0.001 $/kWh), so on an axis from 0 the
losses, voltage and congestion parts would be invisible. Positive parts are stacked above
zero and negative parts below, and the dLMP minus the energy price is drawn on top as
markers (it equals the sum of the stacks).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from federates.common.plotting import figure, legend_outside, pyplot, save

COMPONENTS = ("losses", "voltage", "congestion")
COLORS = {"losses": "tab:orange", "voltage": "tab:green", "congestion": "tab:red"}
SMOS_SHOWN = 4


def plot_dlmp(name: str, dlmp: pd.DataFrame, comps: dict[str, pd.DataFrame],
              dist: np.ndarray, path: Path) -> Path:
    """(a) dLMP along the feeder at the hour of the highest mean dLMP; (b) its parts beyond
    the energy price per bus; (c) every bus's dLMP over time."""
    buses = list(dlmp.columns)
    order = np.argsort(dist, kind="stable")
    names = [buses[i] for i in order]
    peak_t = dlmp.mean(axis=1).idxmax()
    at_peak = dlmp.loc[peak_t, names].to_numpy(dtype=float)
    energy = comps.get("energy", pd.DataFrame())
    e = energy.loc[peak_t, names].to_numpy(dtype=float) if peak_t in energy.index else \
        np.full(len(names), np.nan)
    plt = pyplot()
    fig = plt.figure(figsize=(13, 8.5), layout="constrained")
    grid = fig.add_gridspec(2, 2)
    ax_a, ax_c, ax_b = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1]), \
        fig.add_subplot(grid[1, :])
    fig.suptitle(f"{name}: distribution locational marginal prices (dLMP) of the primary "
                 "market;\n(a), (b) at the clearing with the highest mean dLMP, "
                 f"t = {peak_t / 3600:.2f} h")

    ax_a.plot(dist[order], at_peak, "k.", ms=5, label="dLMP at a bus")
    if np.isfinite(e).any():
        ax_a.plot(dist[order], e, color="tab:blue", lw=1, label="energy price")
    ax_a.set(xlabel="electrical distance from the source (sum of r) [pu]", ylabel="dLMP [$/kWh]",
             title="(a) dLMP along the feeder")
    ax_a.ticklabel_format(axis="y", useOffset=False)
    ax_a.grid(alpha=0.3)
    legend_outside(ax_a)

    x = np.arange(len(names))
    up, down = np.zeros(len(names)), np.zeros(len(names))
    for c in COMPONENTS:
        frame = comps.get(c, pd.DataFrame())
        if frame.empty or peak_t not in frame.index:
            continue
        vals = frame.loc[peak_t, names].to_numpy(dtype=float)
        vals = np.nan_to_num(vals)
        pos, neg = np.clip(vals, 0, None), np.clip(vals, None, 0)
        label = f"{c} (largest |part| {np.max(np.abs(vals)):.2g} $/kWh)"
        ax_b.bar(x, pos, bottom=up, width=0.85, color=COLORS[c], label=label)
        ax_b.bar(x, neg, bottom=down, width=0.85, color=COLORS[c])
        up, down = up + pos, down + neg
    if np.isfinite(e).any():
        ax_b.plot(x, at_peak - e, "k.", ms=4, zorder=3, label="dLMP - energy price")
    ax_b.axhline(0.0, color="black", lw=0.6)
    ax_b.use_sticky_edges = False  # zero-height parts must not pin the limits to the data
    ax_b.margins(y=0.05)
    step = max(1, int(np.ceil(len(names) / 45)))
    ax_b.set_xticks(x[::step], names[::step], rotation=90, fontsize=7)
    ax_b.set_xlim(-1, len(names))
    ax_b.set(xlabel="bus (ordered by electrical distance from the source)",
             ylabel="price beyond the energy price [$/kWh]",
             title="(b) dLMP parts beyond the energy price (positive stacked above 0, "
                   "negative below)")
    ax_b.grid(alpha=0.3, axis="y")
    legend_outside(ax_b, title="dLMP part")

    hrs = dlmp.index.to_numpy(dtype=float) / 3600.0
    edges = np.append(hrs, hrs[-1] + (hrs[-1] - hrs[-2] if len(hrs) > 1 else 1.0))
    mesh = ax_c.pcolormesh(edges, np.arange(len(names) + 1) - 0.5, dlmp[names].to_numpy().T,
                           cmap="viridis", shading="flat")
    fig.colorbar(mesh, ax=ax_c, label="dLMP [$/kWh]")
    ax_c.set(xlabel="clearing time [h]",
             ylabel="bus by distance from source [rank, 0 = nearest]",
             title="(c) dLMP of every bus over time")
    return save(fig, path)


def plot_setpoints(name: str, disp: dict[str, pd.DataFrame], sec: pd.DataFrame,
                   period_h: float, path: Path) -> Path | None:
    """Bid range, bid baseline and cleared setpoint of the SMOs the primary market moved
    most: the largest sum over clearings of |setpoint - bid baseline P0|."""
    p = disp["p_kw"]
    if p.empty:
        return None
    moved = ((disp["p0_kw"] - p).abs().sum() * period_h).sort_values(ascending=False,
                                                                     kind="stable")
    smos = list(moved.index[:SMOS_SHOWN])
    fig, axes = figure(len(smos), 1, figsize=(11, 2.4 * len(smos) + 0.8), sharex=True,
                       squeeze=False)
    why = (f"the {len(smos)} of {p.shape[1]} SMOs the market moved most from their bids "
           "(largest sum over clearings of |setpoint - bid P0|)") if moved.iloc[0] > 0 else \
        f"{len(smos)} of {p.shape[1]} SMOs (no SMO was moved from its bid)"
    fig.suptitle(f"{name}: primary market setpoints against the SMOs' bids;\n{why}")
    h = p.index.to_numpy(dtype=float) / 3600.0
    for ax, s in zip(axes[:, 0], smos, strict=True):
        ax.fill_between(h, disp["p_min_kw"][s], disp["p_max_kw"][s], step="post",
                        alpha=0.25, label="bid range [P min, P max]")
        ax.step(h, disp["p0_kw"][s], where="post", label="bid baseline P0")
        ax.step(h, p[s], where="post", label="primary setpoint")
        if not sec.empty and s in sec:
            ax.step(sec.index.to_numpy(dtype=float) / 3600.0, sec[s], where="post", lw=0.8,
                    label="secondary total (sum of its houses)")
        ax.set(ylabel="net load [kW]",
               title=f"SMO {s}: moved {moved[s]:,.1f} kWh in total", )
        ax.grid(alpha=0.3)
    legend_outside(axes[0, 0])
    axes[-1, 0].set_xlabel("time [h]")
    return save(fig, path)


def plot_cost(name: str, cost: pd.Series, welfare: pd.Series, path: Path) -> Path:
    fig, ax = figure(figsize=(10, 3.8))
    h = cost.index.to_numpy(dtype=float) / 3600.0
    ax.step(h, cost.to_numpy(), where="post", label="total cost")
    ax.step(h, welfare.to_numpy(), where="post",
            label="welfare: cost without the market's dispatch minus with it")
    ax.axhline(0.0, color="grey", lw=0.6)
    ax.set(xlabel="time [h]", ylabel="cost rate [$/h]",
           title=f"{name}: primary market cost and welfare per clearing")
    ax.grid(alpha=0.3)
    legend_outside(ax)
    return save(fig, path)
