"""`gridfed run --counterfactual`: the scenario, then its counterfactual variants, compared.

The variants come from the scenario's federates: each kind's wrapper declares the variants
it implies (`FederateWrapper.counterfactual_variants`: variant name -> `--set` overrides;
e.g. a resilience manager implies a run without mitigation, an attacker a run without the
attack), merged by name. Each variant is the validated scenario plus those overrides
(recorded in its `scenario.yaml`), so the federation, its wiring and its time ordering stay
those of the main run. With `--jobs N` (default: one per RUN_CORES cores) up to N runs go at
once, the variants as child runs beside the main run (runner/variants.py); otherwise (and
always with `--external` or `--dry-run`) one after the other. Each run has its own broker,
port and key:

    <out>/                              the main run (as without the option)
    <out>/counterfactual/<variant>/     a full results folder per variant
    <out>/comparison.md, comparison.json

The comparison is written by the first federate whose kind compares variants
(`FederateWrapper.compare_variants`), from the runs' metrics, series and configs.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from federates.registry import wrapper_class
from federates.runtime import FederateWrapper
from runner.compile import compile_scenario
from runner.report import write_run_report
from runner.results import make_run_dir, read_timeseries, regenerate
from runner.schema import Scenario, ScenarioError, find_scenario, load_scenario
from runner.variants import VariantRun, declared_variants, finish, start_variant

if TYPE_CHECKING:
    from runner.session import RunRequest

SUBDIR = "counterfactual"
RUN_CORES = 4  # a run keeps ~1 core busy and its HELICS traffic ~1 more (measured: 20 s of
# wall time, 18 s user + 14 s system CPU for attack_2b), so concurrent runs only pay off
# with ~4 cores per extra run; on 2 cores three runs side by side took longer than in turn


def variant_overrides(scenario: Scenario) -> dict[str, list[str]]:
    """The `--set` items that turn the scenario into each counterfactual variant."""
    variants = declared_variants(scenario)
    if not variants:
        raise ScenarioError(f"{scenario.name}: --counterfactual needs a federate whose kind "
                            "declares counterfactual variants (none of "
                            f"{sorted({s.kind for s in scenario.federates.values()})} does)")
    free_port = ["broker.port=null"]  # each variant gets its own free broker port
    return {name: [*free_port, *items] for name, items in variants.items()}


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
    """The main run and every variant found in its folder."""
    variants = sorted(p for p in (out / SUBDIR).iterdir() if p.is_dir()) \
        if (out / SUBDIR).is_dir() else []
    return {"main": out, **{p.name: p for p in variants}}


def _comparer(run_dir: Path) -> tuple[str, type[FederateWrapper]] | None:
    """(name, wrapper class) of the run's first federate whose kind compares variants."""
    for cfg in sorted((run_dir / "configs").glob("*.json")):
        cls = wrapper_class(json.loads(cfg.read_text())["kind"])
        if cls.compare_variants.__func__ is not FederateWrapper.compare_variants.__func__:
            return cfg.stem, cls
    return None


def _run_data(run_dir: Path, name: str, cls: type[FederateWrapper]) -> dict[str, Any]:
    """What a kind's comparison reads of one run: metrics, series, its own config."""
    metrics_path, cfg = run_dir / "metrics.json", run_dir / "configs" / f"{name}.json"
    config = cls.config_model.model_validate(json.loads(cfg.read_text())["config"]) \
        if cfg.exists() else None
    return {"dir": run_dir,
            "metrics": json.loads(metrics_path.read_text()) if metrics_path.exists() else {},
            "timeseries": read_timeseries(run_dir), "config": config}


def write_comparison(out: Path) -> Path | None:
    """Write `comparison.json` and `comparison.md` into the main run's folder."""
    found = _comparer(out) if (out / "configs").is_dir() else None
    if found is None:
        return None
    name, cls = found
    runs = {k: _run_data(d, name, cls) for k, d in run_dirs(out).items()}
    result = cls.compare_variants(name, cls.config_model.model_validate(
        json.loads((out / "configs" / f"{name}.json").read_text())["config"]), runs)
    if result is None:
        return None
    data, markdown = result
    (out / "comparison.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
    path = out / "comparison.md"
    path.write_text(markdown)
    return path


def finish_comparison(out: Path) -> Path | None:
    """Recompute the main run's metrics and report -- a kind's report may read its
    variants (the resilience targets against the no-attack run) -- and write the
    comparison."""
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
