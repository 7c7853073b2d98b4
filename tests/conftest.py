"""Shared helpers: run the gridfed CLI as a real subprocess and inspect what it leaves."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from runner.launch import run_processes

REPO = Path(__file__).resolve().parents[1]


def gridfed(*args: str, timeout: float = 300, env_extra: dict[str, str] | None = None,
            **kwargs) -> subprocess.CompletedProcess:
    """Run `gridfed ARGS` from the repository root (like a user would) and capture output."""
    env = dict(os.environ, COLUMNS="200", **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "runner", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout, **kwargs)


def interruptible() -> None:
    """`preexec_fn` of a child the test will Ctrl-C: a shell starts background jobs with
    SIGINT ignored, and Python keeps an ignored SIGINT, so the signal would never arrive."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def write_scenario(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def assert_clean(run_dir: Path) -> None:
    """No process of the run is alive and its broker port can be bound again."""
    assert run_processes(run_dir.resolve()) == []
    plan = json.loads((run_dir / "launch_plan.json").read_text())
    host, port = plan["broker"]["address"].removeprefix("tcp://").split(":")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # like any server: connections in TIME_WAIT do not hold the port, a listener would
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, int(port)))
        sock.listen()


@pytest.fixture
def scenario_dir(tmp_path: Path) -> Path:
    return tmp_path
