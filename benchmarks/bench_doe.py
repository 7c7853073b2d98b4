"""DOE on IEEE 123: B1 (ICNN-as-LP) solver time per interval, B2 and B3 beside it, data
generation rate and training time.

Goal: B1 median solver time per interval <= 30 ms on 2 cores (seed: 0.19 s with Gurobi);
B2 >= 10x slower than B1. Uses the shipped IEEE 123 weights (federates/doe/data) when
present, otherwise Table II ICNNs trained for two epochs (the LP's size and structure are
the same; its timing is what is measured). Run: ``python benchmarks/bench_doe.py`` (writes
the ``doe`` section at the end of docs/benchmarks.md).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = REPO / "federates" / "doe" / "data" / "icnn_ieee123.npz"


def run(intervals: int = 60, b2_intervals: int = 2) -> dict:
    sys.path.insert(0, str(REPO))
    from federates.doe import profiles
    from federates.doe import surrogates as S
    from federates.doe.case import IEEE123
    from federates.doe.dataset import LoadBox, OutputMap, generate
    from federates.doe.methods import EnvelopeEngine
    from federates.doe.snapshot import Snapshotter
    from federates.doe.train import TrainConfig, train

    out: dict = {}
    snap = Snapshotter(IEEE123)
    m_peak = profiles.calibrate_peak(snap, 0.9 * IEEE123.limits.i_max_a)
    series = profiles.build(snap, 960, m_peak, seed=2)
    snap.regulate(float(series.m.mean()))  # as the shipped study (taps: regulated)
    omap = OutputMap.retrenched(snap)
    box = LoadBox.from_multipliers(series.m.min(), series.m.max())
    data = generate(snap, omap, box, 2000, seed=1)
    out["data"] = {"snapshots_per_s": len(data.x) / data.seconds,
                   "est_30000_snapshots_s": 30_000 * data.seconds / len(data.x),
                   "failed": data.n_failed}
    if WEIGHTS.exists():
        icnn = S.SurrogateSet.load(WEIGHTS)
        meta = json.loads(WEIGHTS.with_suffix(".json").read_text())
        out["training"] = {"shipped_weights": 1, "train_s": meta.get("train_seconds", np.nan)}
    else:
        tr, va, _ = data.split(0)
        t_tr, t_va = S.targets(tr.y), S.targets(va.y)
        nets, t0 = {}, time.perf_counter()
        for m in S.KEYS:
            nets[m], _ = train(tr.x, t_tr[m], va.x, t_va[m], S.WIDTHS[m], True, 1.0, 0,
                               TrainConfig(epochs=2))
        icnn = S.SurrogateSet(nets, omap.v_names, omap.i_names)
        out["training"] = {"shipped_weights": 0, "two_epochs_s": time.perf_counter() - t0}
    t0 = time.perf_counter()
    eng = EnvelopeEngine(snap, icnn, None, IEEE123, IEEE123.limits, IEEE123.weights)
    out["b1_build_s"] = time.perf_counter() - t0
    out["b1_nonzeros"] = eng.lp["upper"].n_nonzeros
    ts = np.linspace(0, len(series) - 1, intervals).astype(int)
    times: dict[str, list[float]] = {"B1": [], "B3": []}
    for study in ("upper", "lower"):
        for t in ts:
            for meth in ("B1", "B3"):
                sol = eng.solve(meth, study, series.p_load[t], series.q_load[t],
                                series.p_lo[t], series.p_hi[t])
                times[meth].append(sol.solve_s)
    for meth, v in times.items():
        arr = np.array(v) * 1e3
        out[meth] = {"median_ms": float(np.median(arr)), "p95_ms": float(np.percentile(arr, 95)),
                     "mean_ms": float(arr.mean()), "problems": len(arr)}
    ratios, b2_ms = [], []
    for t in ts[:: max(1, len(ts) // b2_intervals)][:b2_intervals]:
        args = (series.p_load[t], series.q_load[t], series.p_lo[t], series.p_hi[t])
        b1 = eng.solve("B1", "upper", *args)
        b2 = eng.solve("B2", "upper", *args)
        b2_ms.append(b2.solve_s * 1e3)
        ratios.append(b2.solve_s / b1.solve_s)
    out["B2"] = {"median_ms": float(np.median(b2_ms)),
                 "median_ratio_to_B1": float(np.median(ratios)), "problems": len(b2_ms)}
    return out


GOAL = ("B1 median solver time per interval <= 30 ms on 2 cores (seed: 0.19 s with Gurobi); "
        "B2 >= 10x slower than B1; B3 <= 10 ms")


def write_section(results: dict) -> None:
    """Replace (or append) the ``## doe`` section at the end of docs/benchmarks.md."""
    doc = REPO / "docs" / "benchmarks.md"
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    head, _, tail = text.partition("\n## doe\n")
    rest = tail.partition("\n## ")
    after = ("\n## " + rest[2]) if rest[1] else ""
    rows = [f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |"
            for k, v in _flatten(results)]
    section = ["## doe", "", f"Goal: {GOAL}.", "",
               f"Measured {time.strftime('%Y-%m-%d')} (load average "
               f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores).", "",
               "| measure | value |", "|---|---|", *rows, ""]
    doc.write_text(head.rstrip("\n") + after.rstrip("\n") + "\n\n" + "\n".join(section))


def _flatten(d: dict, prefix: str = "") -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for k, v in d.items():
        out += _flatten(v, f"{prefix}{k}.") if isinstance(v, dict) else [(f"{prefix}{k}", v)]
    return out


if __name__ == "__main__":
    res = run()
    for key, value in _flatten(res):
        print(f"  {key:40s} {value}")
    write_section(res)
