"""`report.md` at the top of a results folder: run status, grid summary, the federates' own
markdown reports (e.g. the resilience manager's three-window attack table), the
counterfactual comparison when there is one, and the plots.

Written by `finalize` at the end of every run and rewritten by `gridfed report RESULTS_DIR`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

REPORT = "report.md"
SUMMARY = (("energy_imported_kwh", "Energy imported [kWh]"), ("peak_import_kw", "Peak import [kW]"),
           ("v_min_pu", "Min voltage [pu]"), ("v_max_pu", "Max voltage [pu]"),
           ("ansi_a_violation_node_steps", "ANSI A violations [node-steps]"),
           ("ansi_b_violation_node_steps", "ANSI B violations [node-steps]"),
           ("losses_kwh", "Losses [kWh]"),
           ("island_energy_kwh", "Grid-forming unit energy (islanded) [kWh]"),
           ("island_peak_kw", "Grid-forming unit peak (islanded) [kW]"))


def _summary(metrics: dict[str, Any]) -> list[str]:
    rows = [f"| {name}: {label} | {fed[key]} |"
            for name, fed in metrics.get("federates", {}).items() if isinstance(fed, dict)
            for key, label in SUMMARY if key in fed]
    return ["| | |", "|---|---|", *rows, ""] if rows else []


def run_report_markdown(run_dir: Path, metrics: dict[str, Any]) -> str:
    """The whole report as markdown (paths relative to the results folder)."""
    status = "complete" if metrics.get("complete") else f"INCOMPLETE ({metrics.get('status')}: " \
        f"{metrics.get('message', '')})"
    lines = [f"# Run report: {metrics.get('scenario')}", "",
             f"- Status: {status}",
             f"- Wall time [s]: {metrics.get('wall_time_s', '-')}",
             f"- Recorded until [s]: {metrics.get('recorded_until_s', '-')}",
             "- Data: `timeseries.parquet`, `metrics.json`, `scenario.yaml`", ""]
    lines += _summary(metrics)
    for part in sorted(run_dir.glob("*_report.md")):
        lines += [part.read_text().rstrip(), "", f"(from `{part.name}`)", ""]
    if (run_dir / "comparison.md").exists():
        lines += ["## Counterfactual", "", "The same scenario without mitigation and without "
                  "attack, side by side: [comparison.md](comparison.md) (runs in "
                  "`counterfactual/`).", ""]
    plots = sorted((run_dir / "plots").glob("*.png"))
    if plots:
        lines += ["## Plots", ""] + [f"![{p.stem}](plots/{p.name})" for p in plots] + [""]
    return "\n".join(lines)


def write_run_report(run_dir: Path, metrics: dict[str, Any]) -> Path:
    path = run_dir / REPORT
    path.write_text(run_report_markdown(run_dir, metrics))
    return path
