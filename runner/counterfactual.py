"""`gridfed run --counterfactual`: the attacked run, then the same scenario without mitigation
and without the attack, compared window by window.

The variants are the validated scenario plus `--set` overrides (recorded in each variant's
`scenario.yaml`): every resilience federate switched to detect-only (`mitigation=false`) for
`no_mitigation`, every attacker's schedule emptied (`attacks=[]`) for `no_attack`; the
attacker federate itself stays, so the federation, its wiring and its time ordering are the
same in all three runs. With `--jobs N` (default: one per RUN_CORES cores) up to N runs go
at once, the variants as child runs beside the attacked run; otherwise (and always with
`--external` or `--dry-run`) one after the other. Each run has its own broker, port and key:

    <out>/                              the attacked, mitigated run (as without the option)
    <out>/counterfactual/no_mitigation/ a full results folder
    <out>/counterfactual/no_attack/     a full results folder
    <out>/comparison.md, comparison.json

The comparison uses the attacked run's windows (pre-attack, post-attack before mitigation,
after mitigation) on all three time series, so the columns compare like with like.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from federates.common.series import scalar
from federates.registry import wrapper_class
from runner.compile import compile_scenario
from runner.report import write_run_report
from runner.results import make_run_dir, read_timeseries, regenerate
from runner.schema import Scenario, ScenarioError, find_scenario, load_scenario
from runner.variants import VariantRun, finish, start_variant

if TYPE_CHECKING:
    from runner.session import RunRequest

SUBDIR = "counterfactual"
RUN_CORES = 4  # a run keeps ~1 core busy and its HELICS traffic ~1 more (measured: 20 s of
# wall time, 18 s user + 14 s system CPU for attack_2b), so concurrent runs only pay off
# with ~4 cores per extra run; on 2 cores three runs side by side took longer than in turn
RUNS = {"main": "Attack + mitigation", "no_mitigation": "No mitigation",
        "no_attack": "No attack"}
WINDOWS = {"pre_attack": "Pre-attack", "post_attack": "Post-attack, before mitigation",
           "mitigated": "After mitigation"}
ROWS = (("PCC import [kW]", "pcc_import_kw"), ("Total cost (market) [$]", "total_cost"),
        ("Total load [kW]", "total_load_kw"), ("Min voltage [pu]", "v_min_pu"),
        ("Max voltage [pu]", "v_max_pu"),
        ("ANSI A violations [node-steps]", "ansi_a_violation_node_steps"))
ISLAND_ROWS = (("Grid-forming output (islanded) [kW]", "grid_forming_kw"),)


def _kind(spec_kind: str) -> str:
    return wrapper_class(spec_kind).kind


def variant_overrides(scenario: Scenario) -> dict[str, list[str]]:
    """The `--set` items that turn the scenario into each counterfactual variant."""
    managers = [n for n, s in scenario.federates.items() if _kind(s.kind) == "resilience"]
    attackers = [n for n, s in scenario.federates.items() if _kind(s.kind) == "attacker"]
    if not managers or not attackers:
        raise ScenarioError(f"{scenario.name}: --counterfactual needs a resilience federate "
                            f"and an attacker (found {managers or 'no resilience'}, "
                            f"{attackers or 'no attacker'})")
    free_port = ["broker.port=null"]  # each variant gets its own free broker port
    return {"no_mitigation": [*free_port, *(f"{n}.mitigation=false" for n in managers)],
            "no_attack": [*free_port, *(f"{n}.attacks=[]" for n in attackers)]}


def _check_compiles(variant: Scenario) -> None:
    """Compile a variant (no files are written) so a broken one fails before any run."""
    with tempfile.TemporaryDirectory() as tmp:
        compile_scenario(variant, Path(tmp), 1024, "check", "check")


def execute_counterfactual(request: RunRequest, console: Console) -> int:
    """Run the scenario and its two variants (`jobs` at a time); write the comparison."""
    from runner.session import execute

    path = find_scenario(request.scenario)
    scenario = load_scenario(path, request.overrides)
    variants = variant_overrides(scenario)
    for extra in variants.values():
        _check_compiles(load_scenario(path, [*request.overrides, *extra]))
    out = make_run_dir(request.out, scenario.name)
    base = replace(request, out=out, counterfactual=False)
    jobs = request.jobs or max(1, (os.cpu_count() or 2) // RUN_CORES)
    if request.external or request.dry_run or jobs < 2:  # one run after the other, here
        code = execute(base, console)
        if code != 0:
            console.print("[bold red]counterfactual runs skipped[/]: the attacked run failed")
            return code
        for name, extra in variants.items():
            console.rule(f"counterfactual: {name}")
            code = max(code, execute(replace(base, out=out / SUBDIR / name, broker_port=None,
                                             overrides=[*request.overrides, *extra]), console))
    else:  # variants as child runs (runner/variants.py), `jobs` runs at a time
        def start(name: str) -> VariantRun:
            return start_variant(name, request.scenario, out / SUBDIR / name,
                                 [*request.overrides, *variants[name]], request.timeout)

        names = list(variants)
        children = [start(n) for n in names[:jobs - 1]]
        console.print(f"counterfactual runs {', '.join(c.name for c in children)} started "
                      f"beside this run (console logs in {out / SUBDIR})")
        try:
            code = execute(replace(base, out_prepared=True), console)
            if code == 0:  # the attacked run's slot goes to the variants left
                children += [start(n) for n in names[jobs - 1:]]
        except BaseException:
            finish(children, stop=True)
            raise
        codes = finish(children, stop=code != 0)
        if code != 0:
            console.print("[bold red]counterfactual runs stopped[/]: the attacked run failed")
            return code
        for child in children:
            state = "done" if codes[child.name] == 0 else f"[bold red]exit {codes[child.name]}[/]"
            console.print(f"counterfactual {child.name}: {state} ({child.out}, log {child.log})")
        code = max(code, *codes.values())
    if not request.dry_run:
        console.print(f"comparison: {finish_comparison(out)}")
    return code


# ---------------------------------------------------------------------- comparison
def run_dirs(out: Path) -> dict[str, Path]:
    return {"main": out, **{n: out / SUBDIR / n for n in ("no_mitigation", "no_attack")}}


def _manager(run_dir: Path) -> tuple[str, Any] | None:
    """(name, config) of the run's resilience federate, from its compiled configs."""
    from federates.resilience.config import ResilienceConfig

    for cfg in sorted((run_dir / "configs").glob("*.json")):
        spec = json.loads(cfg.read_text())
        if wrapper_class(spec["kind"]).kind == "resilience":
            return cfg.stem, ResilienceConfig.model_validate(spec["config"])
    return None


def run_summary(run_dir: Path, windows: dict[str, tuple[float, float]]) -> dict[str, Any]:
    """One run's window statistics (on the given windows) and its manager's events."""
    from federates.resilience.report import report_signals, window_stats

    metrics_path = run_dir / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    out: dict[str, Any] = {"dir": str(run_dir), "status": metrics.get("status", "missing"),
                           "complete": bool(metrics.get("complete"))}
    found = _manager(run_dir) if (run_dir / "configs").is_dir() else None
    ts = read_timeseries(run_dir)
    if found is None or ts.empty:
        return out
    name, config = found
    sig = report_signals(name, config, ts)
    out["windows"] = {k: window_stats(ts, lo, hi, sig) for k, (lo, hi) in windows.items()}
    detected = scalar(ts, f"{name}.detected")
    on = detected[detected > 0]
    updates = scalar(ts, f"{name}.updates")
    out["detection_time_s"] = float(on.index[0]) if len(on) else None
    out["coefficient_updates"] = int(updates.max()) if len(updates) else 0
    return out


def compare(out: Path) -> dict[str, Any]:
    """The three runs side by side on the attacked run's windows."""
    main = json.loads((out / "metrics.json").read_text()) if (out / "metrics.json").exists() \
        else {}
    found = _manager(out)
    rm = main.get("federates", {}).get(found[0], {}) if found else {}
    spans = {k: (w["from_s"], w["to_s"]) for k, w in (rm.get("windows") or {}).items()}
    return {"scenario": main.get("scenario"), "manager": found[0] if found else None,
            "attack_start_s": rm.get("attack_start_s"), "attack_end_s": rm.get("attack_end_s"),
            "windows": {k: {"from_s": lo, "to_s": hi} for k, (lo, hi) in spans.items()},
            "runs": {k: run_summary(d, spans) for k, d in run_dirs(out).items()}}


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or isinstance(value, int):
        return str(value)
    return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"


def _folders() -> list[tuple[str, str, str]]:
    """(run key, column label, folder relative to the attacked run's folder)."""
    return [(k, label, "." if k == "main" else f"{SUBDIR}/{k}") for k, label in RUNS.items()]


def comparison_markdown(data: dict[str, Any]) -> str:
    runs = data["runs"]
    head = "| | " + " | ".join(RUNS.values()) + " |"
    rule = "|---" * (len(RUNS) + 1) + "|"
    end = data.get("attack_end_s")
    lines = [f"# Counterfactual comparison: {data.get('scenario')}", "",
             "Runs: " + "; ".join(f"{label} `{folder}` ({runs[k]['status']})"
                                  for k, label, folder in _folders()) + ".",
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


def write_comparison(out: Path) -> Path:
    """Write `comparison.json` and `comparison.md` into the attacked run's folder."""
    data = compare(out)
    (out / "comparison.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
    path = out / "comparison.md"
    path.write_text(comparison_markdown(data))
    return path



def finish_comparison(out: Path) -> Path:
    """Recompute the attacked run's metrics and report -- its resilience report now finds the
    no-attack run and checks the targets against it too -- and write the comparison."""
    regenerate(out)
    path = write_comparison(out)
    write_run_report(out, json.loads((out / "metrics.json").read_text()))
    return path


def regenerate_comparison(out: Path) -> Path | None:
    """`gridfed report`: regenerate the variants' results and the comparison, if any."""
    if not (out / SUBDIR).is_dir():
        return None
    for run_dir in run_dirs(out).values():
        if run_dir != out and (run_dir / "configs").is_dir():
            regenerate(run_dir)
    return finish_comparison(out)
