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
        code = execute(request, console)
    except ScenarioError as exc:
        _fail(str(exc))
    except KeyboardInterrupt as exc:
        _fail(f"stopped ({exc or 'Ctrl-C'})", code=130)
    raise typer.Exit(code)


@app.command()
def report(results_dir: Annotated[Path, typer.Argument(help="A results folder.")]) -> None:
    """Regenerate metrics.json, plots and report.md of a results folder (and its
    counterfactual comparison, if it has one)."""
    from runner.counterfactual import regenerate_comparison
    from runner.results import regenerate

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
def docs(output: Annotated[Path, typer.Option(help="Markdown file to write.")]
         = Path("docs/interfaces.md")) -> None:
    """Regenerate the interface reference (publications, endpoints, payload fields)."""
    from runner.docs import interfaces_markdown

    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(interfaces_markdown())
    console.print(str(output))


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

