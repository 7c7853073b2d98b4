"""Distributed primary clearing (PAC / NST-PAC, one atom per bus) against the central solve.

One clearing per network (4-bus toy, case33bw, ieee123) with agents at every load bus
bidding 30 % down / 10 % up flexibility and 10 % generation. Reported per method: the
iterations to bring both residuals (local rows |G a - b|, consensus |B a|, in pu) below
1e-2, 1e-3 and 1e-4 (-1 = not within the cap), the final residual, objective gap
(relative) and dLMP gap ($/kWh) to the central solve, the time per iteration (all atoms'
primal steps in one cvxpy/Clarabel solve) and the central clearing time. Residual curves
go to docs/img/pac_residuals.png.

    .venv/bin/python benchmarks/bench_pac.py [--iterations 2000]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ from any folder

from federates.market.atoms import AtomisedMarket
from federates.market.config import PrimaryConfig
from federates.market.pac import PacSettings, PacSolver
from federates.market.primary import Background, PrimaryMarket
from tests.federates.market.test_pac import feeder_case, four_bus  # noqa: E402

PLOT = Path(__file__).resolve().parents[1] / "docs" / "img" / "pac_residuals.png"
CAPS = {"toy4": 2000, "case33bw": 1000, "ieee123": 300}


def case(name: str):
    """The test cases of tests/federates/market/test_pac.py (one definition for both)."""
    return four_bus() if name == "toy4" else feeder_case(name)


def first_below(res: np.ndarray, tol: float) -> int:
    hit = np.flatnonzero(res <= tol)
    return int(hit[0]) + 1 if hit.size else -1


def run(scale: float = 1.0) -> dict:
    warnings.simplefilter("ignore")
    out: dict[str, dict] = {}
    curves = {}
    for name, cap in CAPS.items():
        cap = max(int(cap * scale), 10)
        net, idx, bids, fp, fq = case(name)
        cfg = PrimaryConfig(linear_upper_voltage=False)
        pm = PrimaryMarket(net, [net.buses[i] for i in idx], cfg)
        pm.clear(bids, Background(fp, fq))
        t0 = time.perf_counter()
        pm.clear(bids, Background(fp, fq))
        central_ms = 1e3 * (time.perf_counter() - t0)
        mkt = AtomisedMarket(net, idx, cfg, bids, fp, fq)
        ref = mkt.solve_central()
        for method in ("pac", "nst_pac"):
            s = PacSettings(method=method, max_iterations=cap, tol=1e-9)
            r = PacSolver(mkt, s).run(ref)
            res = np.maximum(r.primal_residual, r.consensus_residual)
            curves[(name, method)] = res
            row = {f"iterations_to_{t:g}": first_below(res, t) for t in (1e-2, 1e-3, 1e-4)}
            row.update({"iterations_run": r.iterations, "final_residual_pu": float(res[-1]),
                        "objective_gap": r.objective_gap, "dlmp_gap_per_kwh": r.dlmp_gap,
                        "ms_per_iteration": 1e3 * r.solve_time_s / max(r.iterations, 1)})
            out[f"{name}.{method}"] = row
            print(name, method, row, flush=True)
        out[f"{name}.central_ms"] = {"warm_clearing_ms": central_ms}
    _plot(curves)
    return out


def _plot(curves: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for (name, method), res in curves.items():
        ax.semilogy(np.arange(1, len(res) + 1), res, label=f"{name} {method}",
                    linestyle="-" if method == "pac" else "--")
    ax.set_xlabel("iteration [-]")
    ax.set_ylabel("max(local, consensus) residual [pu]")
    ax.set_title("PAC / NST-PAC: residuals of one primary clearing")
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    PLOT.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(PLOT, dpi=110)
    plt.close(fig)


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the iteration caps")
    return run(ap.parse_args().scale)


if __name__ == "__main__":
    main()
