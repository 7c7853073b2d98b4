"""Helpers of the stop and chaos tests: a small, fast federation run as a real CLI process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from runner.launch import run_processes
from tests.conftest import REPO, interruptible, write_scenario

STEP_S = 15.0


def fast_scenario(directory: Path, **federates: dict) -> Path:
    """IEEE 13 over 24 h at 15 s steps: a player, the grid and the recorder (~10 s a run)."""
    return write_scenario(directory / "fast.yaml", {
        "name": "fast", "feeder": "ieee13", "duration": "24h", "period": f"{STEP_S:g}s",
        "federates": {
            "pv": {"kind": "player", "config": {"items": [
                {"bus": "675", "profile": "pv_clear_sky", "p_kw": -100},
                {"bus": "634", "profile": "residential", "p_kw": 50}]}},
            "grid": {"kind": "grid"},
            "recorder": {"kind": "recorder", "config": {"chunk_steps": 40}},
            **federates}})


def start_run(scenario: Path, run_dir: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "runner", "run", str(scenario), "--out",
                             str(run_dir), *args], cwd=REPO, preexec_fn=interruptible,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for(condition, timeout_s: float = 90.0, what: str = "condition") -> None:
    """Poll `condition()` until true (the run is a separate process: nothing to join)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def simulating(run_dir: Path) -> bool:
    """The federation is past its start: the recorder has reported simulated time."""
    try:
        return json.loads((run_dir / "progress.json").read_text())["time"] > 0
    except (FileNotFoundError, ValueError, KeyError):
        return False


def seconds_until_gone(run_dir: Path, since: float, limit_s: float = 10.0) -> float:
    """Seconds from `since` (time.monotonic) until no process of the run is alive."""
    deadline = since + limit_s
    while run_processes(run_dir.resolve()) and time.monotonic() < deadline:
        time.sleep(0.01)
    return time.monotonic() - since


def run_ports(run_dir: Path) -> list[tuple[str, int]]:
    """Every port the run's broker and federate cores bound (from its launch plan)."""
    plan = json.loads((run_dir / "launch_plan.json").read_text())
    host, port = plan["broker"]["address"].removeprefix("tcp://").split(":")
    ports = [(host, int(port))]
    if plan["broker"]["core_type"] == "zmq":
        ports.append((host, int(port) + 1))
    for config in (run_dir / "configs").glob("*.json"):
        local = json.loads(config.read_text())["runtime"].get("local_port")
        if local:
            ports.append((host, int(local)))
    return ports


def bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            sock.listen()
        except OSError:
            return False
        return True


def port_holders(port: int) -> list[int]:
    """Pids of processes with a socket on local `port` (from /proc/net/tcp*)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[9] != "0":
                inodes.add(f"socket:[{fields[9]}]")
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in inodes for fd in (proc / "fd").iterdir()):
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def stop_times(run_dir: Path) -> dict[str, float]:
    """Simulated time [s] at which each federate that was stopped left its time loop."""
    from runner.launch import failure_record

    out = {}
    for log in (run_dir / "logs").glob("*.log"):
        record = failure_record(log)
        if record and "t" in record:
            out[log.stem] = float(record["t"])
    return out
