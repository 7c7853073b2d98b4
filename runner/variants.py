"""Variants of a scenario: named lists of `--set` overrides, run side by side and compared.

`declared_variants` collects the variants a scenario's federates imply (the counterfactual
of `gridfed run --counterfactual`); a sweep (runner/sweep/) is the general form, any list
of override sets. The variants of the counterfactual run as concurrent child runs of the CLI.

A run keeps about one core busy (its federates mostly take turns), so on a 2-core machine
the two counterfactual variants run beside the attacked run instead of after it. Each
variant is a separate `python -m runner run ... --out DIR --set ...` process with its own
broker, ports and key (runs on one machine never collide); its console output goes to
`<DIR>.console.log`. A child dies with this process (PR_SET_PDEATHSIG) and is stopped
like a user's Ctrl-C (SIGINT: its federates are stopped and its partial results kept).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from federates.process import die_with_parent
from federates.registry import wrapper_class
from runner.schema import ScenarioError, format_validation_error


def declared_variants(scenario: Any) -> dict[str, list[str]]:
    """Variant name -> `--set` items, from every federate's kind
    (`FederateWrapper.counterfactual_variants`), merged by name in federate order."""
    variants: dict[str, list[str]] = {}
    for name, spec in scenario.federates.items():
        cls = wrapper_class(spec.kind)
        try:
            config = cls.config_model.model_validate(spec.config)
        except ValidationError as exc:
            raise ScenarioError(format_validation_error(
                scenario.name, exc, prefix=f"federates.{name}.config")) from None
        for variant, overrides in cls.counterfactual_variants(name, config).items():
            variants.setdefault(variant, []).extend(
                f"{key}={json.dumps(value)}" for key, value in overrides.items())
    return variants


@dataclass
class VariantRun:
    name: str
    out: Path
    log: Path
    proc: subprocess.Popen

    def stop(self) -> None:
        """Ask the child run to stop (as Ctrl-C would) if it is still running."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)

    def wait(self) -> int:
        return self.proc.wait()


def start_variant(name: str, scenario: str, out: Path, overrides: list[str],
                  timeout: float | None) -> VariantRun:
    """Start `gridfed run SCENARIO --out OUT --set ...` in the background."""
    out.parent.mkdir(parents=True, exist_ok=True)
    log = out.parent / f"{out.name}.console.log"
    argv = [sys.executable, "-m", "runner", "run", scenario, "--out", str(out)]
    if timeout is not None:
        argv += ["--timeout", str(timeout)]
    for item in overrides:
        argv += ["--set", item]
    env = dict(os.environ, COLUMNS="120", NO_COLOR="1")
    with log.open("w") as sink:
        proc = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env,
                                preexec_fn=partial(die_with_parent, os.getpid()))
    return VariantRun(name, out, log, proc)


def finish(runs: list[VariantRun], stop: bool = False) -> dict[str, int]:
    """Wait for every child run (stopping them first if `stop`); exit code per variant.
    A second Ctrl-C while waiting stops the children that are still running."""
    if stop:
        for run in runs:
            run.stop()
    codes: dict[str, int] = {}
    for run in runs:
        try:
            codes[run.name] = run.wait()
        except KeyboardInterrupt:
            for other in runs:
                other.stop()
            codes[run.name] = run.wait()
    return codes
