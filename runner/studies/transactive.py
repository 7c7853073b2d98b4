"""Study: the paper's transactive deviation market on case118zh (Le et al., TSG 2019).

Clears the calibrated case centrally (the reference), settles it both ways, puts Table III
beside ours, runs the distributed algorithm (discrete, literal and accelerated; continuous on
the copper plate) and writes results.json, table3.parquet, convergence.parquet, the
convergence plots and report.md.
"""

from __future__ import annotations

import json
import pathlib
from typing import Literal

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from pydantic import BaseModel, ConfigDict, Field  # noqa: E402

from federates.transactive.case import build_case  # noqa: E402
from federates.transactive.central import solve_central  # noqa: E402
from federates.transactive.config import Dynamics, TransactiveConfig  # noqa: E402
from federates.transactive.distributed import (  # noqa: E402
    initial_state,
    run_continuous,
    run_discrete,
)
from federates.transactive.graphs import adjacency, laplacian  # noqa: E402
from federates.transactive.settlement import settle  # noqa: E402

# Table III of the paper (paper bus: dP MWh, DLMPA $/MWh, welfare w/o, w/ TM $)
PAPER_TABLE_III = {
    74: (-0.0483, 70.88, -4.216, -4.091), 79: (-0.0192, 53.31, -1.364, -1.026),
    116: (-0.0918, 52.67, -6.507, -4.836), 53: (0.08103, 52.67, 2.792, 4.268),
    20: (0.0, 52.67, 0.0, 0.0), 76: (0.0079, 68.27, 0.0, 0.1230),
    44: (0.0004, 52.67, 0.0, 0.0), 73: (0.0701, 53.25, 0.0, 0.0232),
}


class Config(BaseModel):
    """The ``config:`` section of a transactive study YAML."""

    model_config = ConfigDict(extra="forbid")

    market: TransactiveConfig = Field(default_factory=TransactiveConfig,
                                      description="Market, network and algorithm settings "
                                                  "(units per field; MWh, $/MWh, p.u., A).")
    graph: Literal["ring", "line", "complete", "feeder"] = Field(
        "ring", description="Communication graph of the distributed runs [-].")
    max_iter_literal: int = Field(200_000, gt=0, description="Cap of the literal discrete "
                                  "runs [iterations].")
    max_iter_accelerated: int = Field(40_000, gt=0, description="Cap of the accelerated "
                                      "discrete runs [iterations].")
    trace_every: int = Field(100, gt=0, description="Iterations between recorded points of "
                             "the convergence plots [iterations].")
    continuous_horizon: float = Field(5e3, gt=0, description="Horizon of the continuous "
                                      "copper-plate run [units of epsilon].")


def _table3(case, central, eq11, eff) -> pd.DataFrame:
    rows = []
    for i, p in enumerate(case.prosumers):
        dp, price, w0, w1 = PAPER_TABLE_III.get(p.paper_bus, (np.nan,) * 4)
        rows.append({"paper_bus": p.paper_bus, "bus": f"M{p.bus}", "kind": p.kind,
                     "resource": p.resource, "paper_dp_mwh": dp, "dp_mwh": central.p[i],
                     "paper_dlmpa": price, "dlmpa_eq11": eq11.dlmpa[i],
                     "effective_price": eff.effective[i], "paper_welfare_without": w0,
                     "welfare_without": eq11.welfare_without[i], "paper_welfare_with": w1,
                     "welfare_with_effective": eff.welfare_with[i],
                     "welfare_with_dlmpa_eq11": eq11.welfare_with[i]})
    return pd.DataFrame(rows)


def _plot_discrete(run, central, case, path: pathlib.Path, title: str) -> None:
    it = np.array(run.trace["iteration"])
    fig, axes = plt.subplots(3, 1, figsize=(8, 9), sharex=True)
    p = np.array(run.trace["p"])
    for i, pr in enumerate(case.prosumers):
        line, = axes[0].plot(it, p[:, i], label=f"bus {pr.paper_bus} (M{pr.bus})")
        axes[0].axhline(central.p[i], color=line.get_color(), ls=":", lw=0.8)
    axes[0].set_ylabel("trade dP_i [MWh]")
    axes[0].legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, 1.45))
    u = np.array(run.trace["u"])
    axes[1].plot(it, u, lw=0.8)
    axes[1].axhline(central.u, color="k", ls=":", label="central u")
    axes[1].set_ylabel("price copies u_i [$/MWh]")
    axes[1].legend(loc="lower right", fontsize=8)
    eta = np.array(run.trace["eta"])
    if eta.size:
        axes[2].plot(it, eta[:, :, 0] * run.row_factor / case.i_scale[0], lw=0.8)
        axes[2].axhline(central.eta_s[0] / case.i_scale[0], color="k", ls=":",
                        label="central eta")
        axes[2].legend(loc="lower right", fontsize=8)
    axes[2].set_ylabel("eta_i on M70-M71 [$/MWh per A]")
    axes[2].set_xlabel("iteration of (19) [-]")
    fig.suptitle(title, y=0.995)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_continuous(run, central, case, path: pathlib.Path) -> None:
    t = np.array(run.trace["t_s"]) * 1e3
    p = np.array(run.trace["p"])
    fig, ax = plt.subplots(figsize=(8, 4))
    for i, pr in enumerate(case.prosumers):
        line, = ax.plot(t, p[:, i], label=f"bus {pr.paper_bus}")
        ax.axhline(central.p[i], color=line.get_color(), ls=":", lw=0.8)
    ax.set_xlabel("time t at eps = 1e-5 s [ms]")
    ax.set_ylabel("trade dP_i [MWh]")
    ax.set_title("Continuous (18), literal, copper plate (cf. Fig. 4)")
    ax.legend(fontsize=7, ncol=2, loc="center right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _summary(run, central) -> dict:
    return {"iterations": run.iterations, "converged": run.converged,
            "wall_s": round(run.wall_s, 3), "h_inf": float(f"{run.h_inf:.3g}"),
            "max_dp_error_mwh": float(f"{np.abs(run.p - central.p).max():.3g}"),
            "u": run.u}


def run(config: Config, out: pathlib.Path, *, seed: int, jobs: int = 1,
        scheduler: str | None = None) -> dict:
    """Run the study into ``out``; returns the headline numbers (also in results.json)."""
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    mk = config.market
    case = build_case(mk)
    central = solve_central(case)
    eq11, eff = settle(case, central, "dlmpa_eq11"), settle(case, central, "effective")
    table = _table3(case, central, eq11, eff)
    table.to_parquet(out / "table3.parquet", index=False)
    import feeders

    lap = laplacian(adjacency(config.graph, case.m, [p.bus for p in case.prosumers],
                              feeders.load(mk.network.feeder)))
    rng = np.random.default_rng(seed)
    runs = {}
    conv_rows = []
    for name, cs in (("copper_plate", case.copper_plate()), ("calibrated", case)):
        ref = central if name == "calibrated" else solve_central(cs)
        for mode, cap in (("literal", config.max_iter_literal),
                          ("accelerated", config.max_iter_accelerated)):
            dyn = Dynamics(**{**mk.dynamics.model_dump(), "mode": mode,
                              "graph": config.graph})
            r = run_discrete(cs, lap, dyn, initial_state(cs, dyn, rng),
                             trace_every=config.trace_every, max_iter=cap)
            runs[f"{name}.{mode}"] = _summary(r, ref)
            for k, it in enumerate(r.trace["iteration"]):
                conv_rows += [{"case": name, "mode": mode, "iteration": it,
                               "prosumer": p.paper_bus, "dp_mwh": r.trace["p"][k][i],
                               "u": r.trace["u"][k][i]} for i, p in enumerate(cs.prosumers)]
            _plot_discrete(r, ref, cs, out / f"convergence_{name}_{mode}.png",
                           f"Discrete (19), {mode}, {name.replace('_', ' ')} "
                           f"({'converged' if r.converged else 'cap reached'})")
    cp = case.copper_plate()
    cont = run_continuous(cp, lap, Dynamics(**{**mk.dynamics.model_dump(), "mode": "literal"}),
                          horizon=config.continuous_horizon)
    _plot_continuous(cont, solve_central(cp), cp, out / "convergence_continuous.png")
    pd.DataFrame(conv_rows).to_parquet(out / "convergence.parquet", index=False)
    head = {
        "u": central.u, "welfare_objective_1": central.welfare,
        "welfare_with_effective": float(eff.welfare_with.sum()),
        "welfare_with_dlmpa_eq11": float(eq11.welfare_with.sum()),
        "welfare_without": float(eff.welfare_without.sum()),
        "reserve_saved_mwh": eff.reserve_saved_mwh,
        "congestion_rent_dlmpa_eq11": eq11.congestion_rent,
        "congestion_rent_effective": eff.congestion_rent,
        "eta_l70_71_per_a": float(central.eta_s[0] / case.i_scale[0]) if case.n_i else 0.0,
        "max_dp_vs_paper_mwh": float(np.nanmax(np.abs(table.dp_mwh - table.paper_dp_mwh))),
        "continuous_settling_s": cont.trace["tau_end"][0] * mk.dynamics.epsilon_s,
        "distributed": runs,
    }
    (out / "results.json").write_text(json.dumps(head, indent=2, default=float))
    (out / "report.md").write_text(_report(head, table))
    return head


def _report(h: dict, t: pd.DataFrame) -> str:
    cols = ["paper_bus", "bus", "paper_dp_mwh", "dp_mwh", "paper_dlmpa", "dlmpa_eq11",
            "effective_price", "paper_welfare_with", "welfare_with_effective"]
    lines = ["# Transactive deviation market on case118zh", "",
             "Table III of the paper beside ours (trades in MWh, prices in $/MWh, welfare in $):",
             "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in t[cols].itertuples(index=False):
        lines.append("| " + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v)
                                       for v in r) + " |")
    dist = "\n".join(f"- {k}: {v['iterations']} iterations, converged {v['converged']}, "
                     f"{v['wall_s']} s, max dP error {v['max_dp_error_mwh']} MWh"
                     for k, v in h["distributed"].items())
    lines += ["", f"Balance price u = {h['u']:.4f} $/MWh; objective (1) = "
              f"{h['welfare_objective_1']:.4f} $; reserve saved {h['reserve_saved_mwh']:.4f} "
              f"MWh (paper 0.0784); welfare without the market {h['welfare_without']:.3f} $, "
              f"with it {h['welfare_with_effective']:.3f} $ (effective prices) or "
              f"{h['welfare_with_dlmpa_eq11']:.3f} $ (prices (11)); congestion rent "
              f"{h['congestion_rent_dlmpa_eq11']:.3f} $ under (11).", "",
              "## Why our prices differ from the paper's", "",
              "The trades reproduce the paper's column (bus 74 buys only part of its deviation, "
              "bus 44 about 0.0004 MWh), u is the paper's 52.67, and bus 74's effective price "
              "u + chi*gamma equals pi_Rup = 70.88 as printed. The congestion prices on the "
              "M63-M77 lateral are larger than the paper's because the day-ahead point (DG "
              "schedules, voltages) is unpublished: we use case118zh loads with no scheduled "
              "DG (decision 2), the current limit on M70-M71 is calibrated (I^0 + 3.117 A) to "
              "reproduce the trades, and the generators' reactive ranges are free in our "
              "model, so the single binding row's multiplier eta is whatever makes bus 74's "
              "interior purchase optimal. With our Gamma (OpenDSS, matching the AC Jacobian) "
              "that eta prices every lateral bus near 130 $/MWh in (11); the paper's 68-70 "
              "imply smaller current sensitivities at its unknown operating point. Only the "
              "pattern (lateral above u, elsewhere u) is asserted (spec T6). Settled at (11), "
              "noncontrollable buyers on the lateral pay more than the reserve charge (Remark "
              "1's bound fails); at effective prices no prosumer loses.", "",
              "## Distributed runs", "", dist, "",
              f"Continuous (18) on the copper plate settles in "
              f"{1e3 * h['continuous_settling_s']:.2f} ms at eps = 1e-5 s (paper: 30 ms).", "",
              "Plots: convergence_*.png (trades, price copies, eta copies against the central "
              "optimum, dotted).", ""]
    return "\n".join(lines)
