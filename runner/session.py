"""One `gridfed run`: validate, compile, launch, watch, finalize, summarise."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from runner.checks import check_request, resolve_broker
from runner.compile import compile_scenario
from runner.launch import PortLock, free_port, run_federation, tail
from runner.results import (
    INCOMPLETE_MARKER,
    claim_run_dir,
    finalize,
    plan_run_dir,
    write_resolved_scenario,
)
from runner.schema import find_scenario, load_scenario

SUMMARY_FIELDS = (
    ("energy_imported_kwh", "energy imported [kWh]"),
    ("peak_import_kw", "peak import [kW]"),
    ("v_min_pu", "min voltage [pu]"),
    ("v_max_pu", "max voltage [pu]"),
    ("ansi_a_violation_node_steps", "ANSI A violations [node-steps]"),
    ("ansi_b_violation_node_steps", "ANSI B violations [node-steps]"),
    ("losses_kwh", "losses [kWh]"),
)


@dataclass
class RunRequest:
    scenario: str
    out: Path | None = None
    overrides: list[str] = field(default_factory=list)
    timeout: float | None = None
    broker_port: int | None = None
    external: list[str] = field(default_factory=list)
    dry_run: bool = False
    counterfactual: bool = False  # also run without mitigation and without attack
    jobs: int | None = None  # runs at once with --counterfactual (None: by core count)
    allow_remote_broker: bool = False  # a non-loopback broker.host is allowed
    out_prepared: bool = False  # `out` was just made for this run by the caller (it may
    # already hold the counterfactual runs started beside this one)


def execute(request: RunRequest, console: Console) -> int:
    """Run a scenario end to end; returns the process exit code (0 only on a complete run).
    `--counterfactual` runs go through `runner.counterfactual.execute_counterfactual`,
    which calls this for each run."""
    check_request(request)
    path = find_scenario(request.scenario)
    overrides = list(request.overrides)
    scenario = load_scenario(path, overrides)
    if request.external:
        scenario = scenario.model_copy(update={"external": [*scenario.external,
                                                            *request.external]})
    resolve_broker(scenario, request, console)
    timeout = request.timeout or scenario.timeout
    run_dir = (request.out.absolute() if request.out_prepared and request.out is not None
               else plan_run_dir(request.out, scenario.name))
    lock = PortLock()
    if not request.dry_run:
        lock.acquire()  # released once this run's cores have bound their ports
    try:
        span = 2 if scenario.broker.core_type == "zmq" else 1
        port = scenario.broker.port or free_port(scenario.broker.host, span)
        key = secrets.token_hex(8)
        plan = compile_scenario(scenario, run_dir, port, key, f"gridfed-{key[:8]}")
        created = False if request.out_prepared else claim_run_dir(run_dir)
    except BaseException:
        lock.release()  # nothing was created or started: the folder is made only now
        raise
    try:
        write_resolved_scenario(run_dir, scenario, str(path), overrides)
        plan.write(run_dir)
    except BaseException:
        lock.release()
        if not request.out_prepared:
            _discard(run_dir, created)
        raise
    if request.dry_run:
        (run_dir / INCOMPLETE_MARKER).unlink(missing_ok=True)
        console.print("dry run: configs and launch plan written to "
                      f"[bold]{escape(str(run_dir))}[/]")
        return 0

    def announce_broker() -> None:
        if scenario.external:
            console.print(
                f"broker listening at [bold]{plan.broker_address()}[/] "
                f"(core type {scenario.broker.core_type}, broker key {plan.broker_key}); "
                f"waiting for external federate(s): {', '.join(scenario.external)}\n"
                f"  core init string: --broker_address={plan.broker_address()} "
                f"--brokerkey={plan.broker_key}")

    progress_file = run_dir / "progress.json"
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                  TextColumn("{task.completed:.0f}/{task.total:.0f} s simulated"),
                  TimeElapsedColumn(), console=console, transient=True,
                  disable=not console.is_terminal) as progress:
        task = progress.add_task(scenario.name, total=scenario.duration)

        def tick() -> None:
            try:
                done = json.loads(progress_file.read_text())["time"]
            except (FileNotFoundError, ValueError, KeyError):
                return
            progress.update(task, completed=done)

        try:
            outcome = run_federation(plan, run_dir, timeout, on_tick=tick,
                                     on_broker_ready=announce_broker, on_started=lock.release)
        finally:
            lock.release()
    status = {"scenario": scenario.name, "status": outcome.status,
              "message": outcome.message, "failed_federate": outcome.failed,
              "wall_time_s": round(outcome.wall_time_s, 3), "exit_codes": outcome.exit_codes,
              "stop_s": None if outcome.stop_s is None else round(outcome.stop_s, 3)}
    metrics = finalize(run_dir, status)
    progress_file.unlink(missing_ok=True)
    if not outcome.ok:
        console.print(f"[bold red]run {outcome.status}[/]: {escape(outcome.message)}")
        if outcome.failed:
            console.print(f"--- last lines of logs/{outcome.failed}.log ---")
            console.print(tail(run_dir / "logs" / f"{outcome.failed}.log"), markup=False,
                          highlight=False)
        console.print(f"partial results (marked incomplete): {escape(str(run_dir))}")
        return 1
    _print_summary(console, metrics, outcome.wall_time_s)
    console.print(f"results: {escape(str(run_dir))}")
    return 0


def _discard(run_dir: Path, created: bool) -> None:
    """Empty a results folder this run claimed but never used; remove it if made here."""
    for sub in sorted(run_dir.rglob("*"), reverse=True):
        sub.unlink() if sub.is_file() else sub.rmdir()
    if created:
        run_dir.rmdir()


def _print_summary(console: Console, metrics: dict, wall_s: float) -> None:
    table = Table(title=f"{metrics['scenario']} ({wall_s:.1f} s wall)", show_header=False)
    for name, fed in metrics.get("federates", {}).items():
        for key, label in SUMMARY_FIELDS:
            if key in fed:
                table.add_row(escape(f"{name}: {label}"), f"{fed[key]}")
    console.print(table)
