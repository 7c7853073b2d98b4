"""The counterfactual comparison of a resilience manager: the attacked run, the run without
mitigation and the run without the attack, side by side on the attacked run's windows
(pre-attack, post-attack before mitigation, after mitigation), so the columns compare like
with like. Called by the runner through `ResilienceFederate.compare_variants`.
"""

from __future__ import annotations

import os
from typing import Any

from federates.common.series import scalar

RUNS = {"main": "Attack + mitigation", "no_mitigation": "No mitigation",
        "no_attack": "No attack"}
WINDOWS = {"pre_attack": "Pre-attack", "post_attack": "Post-attack, before mitigation",
           "mitigated": "After mitigation"}
ROWS = (("PCC import [kW]", "pcc_import_kw"), ("Total cost (market) [$]", "total_cost"),
        ("Total load [kW]", "total_load_kw"), ("Min voltage [pu]", "v_min_pu"),
        ("Max voltage [pu]", "v_max_pu"),
        ("ANSI A violations [node-steps]", "ansi_a_violation_node_steps"))
ISLAND_ROWS = (("Grid-forming output (islanded) [kW]", "grid_forming_kw"),)


def run_summary(name: str, run: dict[str, Any] | None,
                windows: dict[str, tuple[float, float]]) -> dict[str, Any]:
    """One run's window statistics (on the given windows) and the manager's events."""
    from federates.resilience.report import report_signals, window_stats

    run = run or {}
    metrics = run.get("metrics") or {}
    out: dict[str, Any] = {"dir": str(run.get("dir", "")),
                           "status": metrics.get("status", "missing"),
                           "complete": bool(metrics.get("complete"))}
    ts, config = run.get("timeseries"), run.get("config")
    if config is None or ts is None or ts.empty:
        return out
    sig = report_signals(name, config, ts)
    out["windows"] = {k: window_stats(ts, lo, hi, sig) for k, (lo, hi) in windows.items()}
    detected = scalar(ts, f"{name}.detected")
    on = detected[detected > 0]
    updates = scalar(ts, f"{name}.updates")
    out["detection_time_s"] = float(on.index[0]) if len(on) else None
    out["coefficient_updates"] = int(updates.max()) if len(updates) else 0
    return out


def compare(name: str, runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The three runs side by side on the attacked run's windows."""
    main = runs["main"].get("metrics") or {}
    rm = main.get("federates", {}).get(name, {})
    spans = {k: (w["from_s"], w["to_s"]) for k, w in (rm.get("windows") or {}).items()}
    return {"scenario": main.get("scenario"), "manager": name,
            "attack_start_s": rm.get("attack_start_s"), "attack_end_s": rm.get("attack_end_s"),
            "windows": {k: {"from_s": lo, "to_s": hi} for k, (lo, hi) in spans.items()},
            "runs": {k: run_summary(name, runs.get(k), spans) for k in RUNS}}


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or isinstance(value, int):
        return str(value)
    return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"


def _folder(runs: dict[str, Any], key: str) -> str:
    """A run's folder relative to the attacked run's folder."""
    main, here = runs["main"].get("dir"), runs[key].get("dir")
    return os.path.relpath(here, main) if main and here else "-"


def comparison_markdown(data: dict[str, Any]) -> str:
    runs = data["runs"]
    head = "| | " + " | ".join(RUNS.values()) + " |"
    rule = "|---" * (len(RUNS) + 1) + "|"
    end = data.get("attack_end_s")
    lines = [f"# Counterfactual comparison: {data.get('scenario')}", "",
             "Runs: " + "; ".join(f"{label} `{_folder(runs, k)}` ({runs[k]['status']})"
                                  for k, label in RUNS.items()) + ".",
             "Windows are the attacked run's; attack from "
             f"{_cell(data.get('attack_start_s'))} s to "
             f"{'the end of the run' if end is None else f'{_cell(end)} s'}.",
             ""]
    if not data["windows"]:
        return "\n".join(lines + ["The attacked run recorded no attack window.", ""])
    for key, label in WINDOWS.items():
        w = data["windows"].get(key)
        if w is None:
            continue
        lines += [f"## {label} [{w['from_s']:g}, {w['to_s']:g}) s", "", head, rule]
        for row_label, row in (*ROWS[:1], *ISLAND_ROWS, *ROWS[1:]):
            values = [runs[k].get("windows", {}).get(key, {}).get(row) for k in RUNS]
            if (row_label, row) in ISLAND_ROWS and all(v is None for v in values):
                continue
            cells = [_cell(v) for v in values]
            lines.append(f"| {row_label} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["## Resilience manager", "", head, rule]
    for row_label, row in (("Detection time [s]", "detection_time_s"),
                           ("Coefficient updates sent", "coefficient_updates")):
        lines.append(f"| {row_label} | " + " | ".join(_cell(runs[k].get(row)) for k in RUNS)
                     + " |")
    return "\n".join(lines) + "\n"
