"""`gridfed` command line: run scenarios, list and export feeders, list scenarios, reports."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from runner.schema import ScenarioError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="gridfed: HELICS co-simulation of the grid edge.")
feeders_app = typer.Typer(no_args_is_help=True, help="Feeders shipped with gridfed.")
scenarios_app = typer.Typer(no_args_is_help=True, help="Scenarios shipped with gridfed.")
app.add_typer(feeders_app, name="feeders")
app.add_typer(scenarios_app, name="scenarios")
console = Console()
err = Console(stderr=True)


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, markup=True)
    raise typer.Exit(code)


@app.command()
def run(
    scenario: Annotated[str, typer.Argument(help="Scenario YAML path or shipped scenario name.")],
    out: Annotated[Path | None, typer.Option(help="Results folder (must not exist or be empty).")]
    = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override KEY=VALUE, e.g. "
                    "duration=2h or grid.period=30s (repeatable).")] = None,
    timeout: Annotated[float | None, typer.Option(help="Wall-clock limit [s].")] = None,
    broker_port: Annotated[int | None, typer.Option(help="Broker port (default: free).")] = None,
    external: Annotated[list[str] | None, typer.Option(help="Also wait for a federate of this "
                        "name started by you (repeatable).")] = None,
    dry_run: Annotated[bool, typer.Option(help="Write configs and launch plan, then stop.")]
    = False,
    counterfactual: Annotated[bool, typer.Option(help="Also run without mitigation and without "
                              "attack (into OUT/counterfactual/) and compare the three.")]
    = False,
    jobs: Annotated[int | None, typer.Option(min=1, max=3, help="With --counterfactual: runs "
                    "at once (default: one per 4 cores, so one at a time on a laptop).")]
    = None,
    allow_remote_broker: Annotated[bool, typer.Option(help="Allow a broker.host that is not "
                                   "loopback (the broker is then reachable from the network).")]
    = False,
) -> None:
    """Validate, compile and run a scenario through its own HELICS broker."""
    from federates.process import stop_signals_raise
    from runner.session import RunRequest, execute

    request = RunRequest(scenario=scenario, out=out, overrides=list(set_ or []),
                         timeout=timeout, broker_port=broker_port,
                         external=list(external or []), dry_run=dry_run,
                         counterfactual=counterfactual, jobs=jobs,
                         allow_remote_broker=allow_remote_broker)
    stop_signals_raise()  # SIGTERM and SIGHUP stop a run like Ctrl-C: results kept, marked
    try:
        if counterfactual:
            from runner.checks import check_request
            from runner.counterfactual import execute_counterfactual

            check_request(request)
            code = execute_counterfactual(request, console)
        else:
            code = execute(request, console)
    except ScenarioError as exc:
        _fail(str(exc))
    except KeyboardInterrupt as exc:
        _fail(f"stopped ({exc or 'Ctrl-C'})", code=130)
    raise typer.Exit(code)


@app.command()
def study(
    study_file: Annotated[str, typer.Argument(metavar="STUDY", help="Study YAML path or "
                                              "shipped study name (scenarios/studies/).")],
    out: Annotated[Path | None, typer.Option(help="Results folder (must not exist or be "
                                             "empty).")] = None,
    jobs: Annotated[int, typer.Option(min=1, help="Parallel worker processes.")] = 1,
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address "
                                                  "(tcp://HOST:PORT) to spread samples on.")]
    = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override KEY=VALUE of the "
                    "study YAML, e.g. config.samples=20 (repeatable).")] = None,
    dry_run: Annotated[bool, typer.Option(help="Validate and print the resolved study.")]
    = False,
) -> None:
    """Run a batch study (no HELICS): hosting capacity, operating envelopes, ..."""
    import yaml

    from runner.results import make_run_dir
    from runner.studies import load_study, run_study

    try:
        overrides = {}
        for item in set_ or []:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise ScenarioError(f"--set {item!r}: expected KEY=VALUE")
            try:
                overrides[key] = yaml.safe_load(value)
            except yaml.YAMLError:
                raise ScenarioError(f"--set {item!r}: the value is not valid YAML") from None
        loaded = load_study(study_file, overrides)
        if dry_run:
            console.print_json(loaded.config.model_dump_json())
            raise typer.Exit(0)
        run_dir = make_run_dir(out, loaded.spec.name)
    except ScenarioError as exc:
        _fail(str(exc))
    console.print(f"study {loaded.spec.name} ({loaded.spec.kind}) -> {run_dir}",
                  highlight=False, markup=False)
    try:
        summary = run_study(loaded, run_dir, jobs=jobs, scheduler=scheduler)
    except KeyboardInterrupt:
        err.print("interrupted: partial results kept (INCOMPLETE)", markup=False)
        raise typer.Exit(130) from None
    except Exception as exc:  # noqa: BLE001 - the study's own failure, reported plainly
        _fail(f"study {loaded.spec.name} failed: {exc!r} (see {run_dir}/INCOMPLETE)", code=1)
    table = Table("result", "value", title=f"{loaded.spec.name} in {summary['wall_time_s']} s")
    for key, value in (summary["results"] or {}).items():
        if not isinstance(value, dict | list):
            table.add_row(str(key), str(value))
    console.print(table)
    console.print(f"results: {run_dir}", highlight=False, markup=False)


@app.command()
def sweep(
    sweep_file: Annotated[Path, typer.Argument(help="Sweep YAML (see docs/sweeps.md).")],
    out: Annotated[Path | None, typer.Option(help="Sweep folder (must not exist or be empty, "
                   "unless --resume).")] = None,
    jobs: Annotated[int | None, typer.Option(min=1, help="Points at once on this machine "
                    "(default: one per core).")] = None,
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address "
                         "(tcp://HOST:PORT): run the points on that cluster.")] = None,
    resume: Annotated[bool, typer.Option(help="Run only the missing or failed points of "
                      "--out.")] = False,
    dry_run: Annotated[bool, typer.Option(help="Validate and list the points, run none.")]
    = False,
) -> None:
    """Run a scenario over a grid / zip / random / latin-hypercube set of parameters."""
    from runner.sweep.execute import execute_sweep

    try:
        code = execute_sweep(sweep_file, console, out=out, jobs=jobs, scheduler=scheduler,
                             resume=resume, dry_run=dry_run)
    except ScenarioError as exc:
        _fail(str(exc))
    except KeyboardInterrupt as exc:
        _fail(f"stopped ({exc or 'Ctrl-C'})", code=130)
    raise typer.Exit(code)


@app.command()
def report(results_dir: Annotated[Path, typer.Argument(help="A results folder.")]) -> None:
    """Regenerate metrics.json, plots and report.md of a results folder (and its
    counterfactual comparison, if it has one), or the table and report of a sweep folder."""
    from runner.counterfactual import regenerate_comparison
    from runner.results import regenerate
    from runner.sweep.table import is_sweep_dir

    if is_sweep_dir(results_dir):
        from runner.sweep.report import write_report

        console.print(str(write_report(results_dir)))
        return
    try:
        metrics = regenerate(results_dir)
        regenerate_comparison(results_dir)
    except ScenarioError as exc:
        _fail(str(exc))
    console.print_json(json.dumps(metrics.get("federates", {}), default=str))


@app.command()
def schema(directory: Annotated[Path, typer.Argument(help="Where to write the schemas.")]) -> None:
    """Write the JSON schema of every payload (for federates in other languages)."""
    from federates.messages import export_schemas

    for path in export_schemas(directory):
        console.print(str(path))


@app.command()
def docs(output: Annotated[Path | None, typer.Argument(
        help="Folder to write into (default: docs/ of the gridfed source checkout).")]
        = None) -> None:
    """Regenerate docs/interfaces.md (ports, payloads) and docs/reference.md (every
    scenario, federate, study and sweep field)."""
    from runner.docs import interfaces_markdown
    from runner.reference import reference_markdown

    if output is None:
        checkout = Path(__file__).resolve().parents[1]
        if not (checkout / "pyproject.toml").exists() or not (checkout / "docs").is_dir():
            _fail("no gridfed source checkout here: give the folder to write into")
        output = checkout / "docs"
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _fail(f"{output}: cannot create the folder ({exc.strerror})")
    for name, text in (("interfaces.md", interfaces_markdown()),
                       ("reference.md", reference_markdown())):
        (output / name).write_text(text)
        console.print(str(output / name), highlight=False, markup=False)


@feeders_app.command("list")
def feeders_list() -> None:
    """List the feeders with their size and kind."""
    import feeders

    table = Table("name", "buses", "kind", "description")
    for info in feeders.list_feeders():
        table.add_row(info.name, str(info.buses), info.kind, info.description)
    console.print(table)


@feeders_app.command("export")
def feeders_export(
    name: Annotated[str, typer.Argument(help="Feeder name.")],
    directory: Annotated[Path, typer.Argument(help="Folder to write master.dss into.")],
) -> None:
    """Write a self-contained OpenDSS model (DIR/master.dss and what it redirects to)."""
    import feeders

    try:
        master = feeders.load(name).export(directory)
    except (ValueError, FileExistsError) as exc:
        _fail(str(exc))
    console.print(str(master))


@scenarios_app.command("list")
def scenarios_list() -> None:
    """List the shipped scenarios."""
    from runner.schema import shipped_scenarios

    table = Table("name", "description")
    for name, description in shipped_scenarios():
        table.add_row(name, description)
    console.print(table)


def main(argv: list[str] | None = None) -> Any:
    return app(args=argv if argv is not None else sys.argv[1:])

