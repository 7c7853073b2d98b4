"""LinDist3Flow against OpenDSS: 100 seeded load/PV scenarios on ieee13 and ieee123.

Prints max/mean voltage and branch-flow errors of the linear model (default options), of the
same with two passes of second-order corrections (``solve_with_losses``), of the linear model
with the nominal-point losses folded in (``losses="nominal"``), linearised around the
nominal point (``losses="linearized"``) and with fixed instead of
constant-impedance shunts, and the build/solve times; replaces its own section of
docs/benchmarks.md.
Usage: ``python benchmarks/bench_lindist3flow.py [--samples N] [--seed S]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import feeders  # noqa: E402
from feeders.lindist3flow import LinDist3Flow  # noqa: E402
from feeders.lindist3flow_check import (  # noqa: E402
    OpenDssReference,
    compare,
    model_injections,
    random_scenarios,
)

NAME = "lindist3flow"


def _feeder(name: str, samples: int, seed: int) -> dict[str, object]:
    t0 = time.perf_counter()
    model = LinDist3Flow(feeders.load(name))
    build_ms = (time.perf_counter() - t0) * 1e3
    scenarios = random_scenarios(model, samples, seed)
    injections = [model_injections(model, sc) for sc in scenarios]
    t0 = time.perf_counter()
    for p, q in injections:
        model.solve(p, q)
    solve_ms = (time.perf_counter() - t0) * 1e3 / samples
    p_all = np.array([p for p, _ in injections])
    q_all = np.array([q for _, q in injections])
    t0 = time.perf_counter()
    v_batch = model.v_const + p_all @ model.v_from_p.T + q_all @ model.v_from_q.T
    batch_ms = (time.perf_counter() - t0) * 1e3
    assert v_batch.shape == (samples, len(model.node_phases))
    reference = OpenDssReference(model)
    t0 = time.perf_counter()
    linear = compare(model, reference, scenarios)
    compare_s = time.perf_counter() - t0
    lossy = compare(model, reference, scenarios, loss_passes=2)
    fixed = compare(LinDist3Flow(model.feeder, shunts="fixed"), reference, scenarios)
    folded = compare(LinDist3Flow(model.feeder, losses="nominal"), reference, scenarios)
    t0 = time.perf_counter()
    tangent_model = LinDist3Flow(model.feeder, losses="linearized")
    tangent_build_ms = (time.perf_counter() - t0) * 1e3
    tangent = compare(tangent_model, reference, scenarios)
    out: dict[str, object] = {"node_phases": len(model.node_phases),
                              "branch_phases": len(model.branch_phases),
                              "build_ms": round(build_ms, 2),
                              "solve_ms": round(solve_ms, 4),
                              "batch_voltages_ms": round(batch_ms, 3),
                              "opendss_compare_s": round(compare_s, 2)}
    out.update({f"linear.{k}": v for k, v in linear.items()})
    out.update({f"with_losses.{k}": v for k, v in lossy.items() if k != "samples"})
    short = ("v_max_err_pu", "v_mean_err_pu", "p_max_err_kw", "q_max_err_kvar")
    out.update({f"nominal_losses.{k}": folded[k] for k in short})
    out["linearized_losses.build_ms"] = round(tangent_build_ms, 2)
    out.update({f"linearized_losses.{k}": tangent[k] for k in short})
    out.update({f"fixed_shunts.{k}": fixed[k] for k in short})
    return out


def run(samples: int = 100, seed: int = 2026) -> dict[str, object]:
    out: dict[str, object] = {name: _feeder(name, samples, seed)
                              for name in ("ieee13", "ieee123")}
    out["load_average_1min"] = round(os.getloadavg()[0], 1)  # timings are noisy when high
    return out


def write_section(results: dict[str, object]) -> Path:
    """Replace (or add) this benchmark's section of docs/benchmarks.md, keeping the rest."""
    from benchmarks.run_all import DOC, GOALS, _flatten, _fmt, _sections

    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    head = text.split("\n## ", 1)[0].rstrip("\n").splitlines()
    sections = _sections(text)
    lines = [f"## {NAME}", "", f"Goal: {GOALS[NAME]}.", "",
             f"Measured {time.strftime('%Y-%m-%d')}.", "", "| measure | value |", "|---|---|"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in _flatten(results)]
    sections[NAME] = lines + [""]
    body = [line for name in sorted(sections) for line in sections[name]]
    DOC.write_text("\n".join(head + [""] + body).rstrip("\n") + "\n")
    return DOC


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args()
    results = run(args.samples, args.seed)
    from benchmarks.run_all import _flatten

    for key, value in _flatten(results):
        print(f"{key:48s} {value}")
    print(f"wrote {write_section(results)}")


if __name__ == "__main__":
    main()
