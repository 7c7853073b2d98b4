"""Results folder and machine-wide state: versions recorded, port lock never held by a dead
run."""

import platform
import signal
import subprocess
import sys
import time
from importlib.metadata import version

import yaml

from runner.launch import PortLock
from tests.conftest import REPO
from tests.federations.runs import fast_scenario
from tests.runner.cli_inproc import invoke

HOLD_LOCK = ("from runner.launch import PortLock; import time; lock = PortLock(); "
             "lock.acquire(); print('held', flush=True); time.sleep(600)")


def test_scenario_yaml_records_every_dependency_version(tmp_path):
    out = tmp_path / "dry"
    code, text = invoke("run", str(fast_scenario(tmp_path)), "--dry-run", "--out", str(out))
    assert code == 0, text
    recorded = yaml.safe_load((out / "scenario.yaml").read_text())["gridfed"]["dependencies"]
    assert recorded["python"] == platform.python_version()
    names = {n.lower(): v for n, v in recorded.items()}
    for name in ("helics", "pandas", "numpy", "pydantic", "cvxpy", "opendssdirect.py"):
        assert names[name] == version(name), name
    assert "gridfed" not in names
    assert not (out / "INCOMPLETE").exists()  # a dry run claims and releases its folder


def test_port_lock_of_a_killed_run_does_not_block_others():
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK], cwd=REPO,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        waiting = PortLock()
        assert waiting.acquire(wait_s=0.3) is False  # a live holder: go on without it
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        lock = PortLock()
        started = time.monotonic()
        assert lock.acquire(wait_s=30) is True
        assert time.monotonic() - started < 5  # freed with its holder, not by the bound
        lock.release()
    finally:
        holder.kill()
        holder.wait()
