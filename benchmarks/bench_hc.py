"""Hosting-capacity benchmark: static Monte Carlo on IEEE 123 and dynamic per-check solves.

Goal: static MC, IEEE 123, 100 samples at 15-min steps in <= 20 s on 2 cores. Dynamic: solve
time of one feasibility check (dispatch QP + OpenDSS replay) and its scaling with horizon.
Prints the numbers and writes the ``## hosting_capacity`` section of docs/benchmarks.md.

    python benchmarks/bench_hc.py [--samples 100] [--jobs 2] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import resource
import time
from pathlib import Path

import numpy as np

from runner.studies.hosting_capacity import Config
from runner.studies.hosting_capacity.devices import static_injections
from runner.studies.hosting_capacity.montecarlo import run_samples, setup
from runner.studies.hosting_capacity.search import dynamic_check, set_baseline, static_hc

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def static_mc(samples: int, jobs: int) -> dict[str, float]:
    cfg = Config(feeder="ieee123", samples=samples, dynamic=False)
    t0 = time.perf_counter()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    rows = run_samples(cfg, seed=1, jobs=jobs)
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    hc = np.array([r["static_hc_pct"] for r in rows])
    checks = sum(r["static_checks"] for r in rows)
    return {"static_mc_samples": samples, "static_mc_jobs": jobs, "static_mc_wall_s": wall,
            "static_mc_worker_cpu_s": cpu, "static_mc_cpu_bound_wall_s": cpu / max(jobs, 1),
            "static_mc_checks": checks, "static_mc_hc_mean_pct": float(hc.mean()),
            "static_mc_hc_std_pct": float(hc.std(ddof=1)) if len(hc) > 1 else 0.0}


def dynamic_scaling(horizons: tuple[float, ...]) -> dict[str, float]:
    out: dict[str, float] = {}
    for h in horizons:
        cfg = Config(feeder="ieee123", samples=0, start_h=12.0 - h / 2 if h < 24 else 0.0,
                     horizon_h=h, correction_rounds=1)
        ctx, base, sday, dday, place = setup(cfg, seed=1)
        st = static_hc(ctx, place, sday)
        set_baseline(ctx, dday, static_injections(cfg, place, dday))
        level = min(int(st.level * 1.3) + 1, place.n_levels)
        t0 = time.perf_counter()
        check, _, _ = dynamic_check(ctx, place, dday, level)
        out[f"dynamic_check_{h:g}h_wall_s"] = time.perf_counter() - t0
        out[f"dynamic_check_{h:g}h_solver_s"] = check.solve_s
    return out


def write_section(numbers: dict[str, float]) -> None:
    """Write the section; measures not rerun this time keep their previous values."""
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    pat = re.compile(r"## hosting_capacity\n.*?(?=\n## |\Z)", re.S)
    old = pat.search(text)
    kept = dict(re.findall(r"^\| (\w+) \| ([^|]+) \|$", old.group(0), re.M)) if old else {}
    kept.pop("measure", None)
    merged = {k: float(v) for k, v in kept.items() if k not in numbers} | numbers
    numbers = dict(sorted(merged.items()))
    lines = ["## hosting_capacity", "",
             "Goal: static MC, IEEE 123, 100 samples at 15-min steps <= 20 s on 2 cores. "
             "Dynamic: one check = dispatch QP (Clarabel, one linearisation) + OpenDSS replay.",
             "", f"Measured {dt.date.today().isoformat()} (host load average "
             f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores).", "",
             "| measure | value |", "|---|---|"]
    lines += [f"| {k} | {v:.4g} |" for k, v in numbers.items()]
    section = "\n".join(lines) + "\n"
    text = pat.sub(section.rstrip("\n"), text) if pat.search(text) else (
        text.rstrip("\n") + "\n\n" + section)
    DOC.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--horizons", type=float, nargs="*", default=[3.0, 6.0, 12.0, 24.0])
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    numbers = static_mc(a.samples, a.jobs) if a.samples else {}
    numbers |= dynamic_scaling(tuple(a.horizons))
    for k, v in numbers.items():
        print(f"{k:40s} {v:.4g}")
    if not a.no_write:
        write_section(numbers)


if __name__ == "__main__":
    main()
