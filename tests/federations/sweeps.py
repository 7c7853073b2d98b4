"""Shared pieces of the sweep federation tests: a small scenario, sweep files, process tags."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import yaml

from runner.launch import processes_with_env
from tests.conftest import REPO, interruptible

SMALL = {"name": "small13", "seed": 2, "feeder": "ieee13", "duration": "10min",
         "period": "1min", "timeout": "2min", "federates": {
             "pv": {"kind": "player", "config": {"items": [
                 {"bus": "675", "profile": "pv_clear_sky", "p_kw": -50}]}},
             "grid": {"kind": "grid", "config": {"baseline": {"shape": "residential"}}},
             "recorder": {"kind": "recorder"}}}


def write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


TRIPWIRE = "tests.federations.tripwire_kind:TripwireFederate"  # importable from the repo


def small_sweep(folder: Path, parameters: dict, federates: dict | None = None,
                **extra) -> Path:
    """SMALL (plus `federates`) as the base scenario of a sweep over `parameters`."""
    write(folder / "small.yaml", {**SMALL, "federates": {**SMALL["federates"],
                                                         **(federates or {})}})
    return write(folder / "sweep.yaml", {"name": "t", "scenario": "small.yaml", "seed": 9,
                                         "set": {"duration": "10min"},
                                         "parameters": parameters, **extra})


def start_sweep(*args: str, tag: str) -> subprocess.Popen:
    """`gridfed sweep ARGS` in the background; every process it starts carries `tag`."""
    env = dict(os.environ, COLUMNS="200", GRIDFED_TEST_TAG=tag)
    return subprocess.Popen([sys.executable, "-m", "runner", "sweep", *args], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, preexec_fn=interruptible)


def new_tag() -> str:
    return uuid.uuid4().hex


def tagged(tag: str) -> list[int]:
    """Live (non-zombie) processes whose environment carries the tag."""
    return processes_with_env("GRIDFED_TEST_TAG", tag)


def federation_metrics(run_dir: Path) -> dict:
    """metrics.json's per-federate metrics without the plot lists (a sweep draws none)."""
    feds = json.loads((run_dir / "metrics.json").read_text())["federates"]
    for fed in feds.values():
        fed.pop("plots", None)
    return feds
