"""Chaos: runs killed with SIGKILL or SIGTERM at a random (seeded) moment leave no process
and no bound port behind; a SIGTERMed run's folder is marked INCOMPLETE with the reason, a
SIGKILLed one is recovered by `gridfed report`."""

import json
import os
import random
import signal
import time

from runner.launch import run_processes
from tests.conftest import gridfed
from tests.federations.runs import (
    bindable,
    fast_scenario,
    port_holders,
    run_ports,
    seconds_until_gone,
    start_run,
    wait_for,
)

TRIALS = 10
SEED = 20261204


def test_killed_runs_leave_nothing_running(tmp_path):
    rng = random.Random(SEED)
    path = fast_scenario(tmp_path)
    gone_s = []
    for trial in range(TRIALS):
        signum = signal.SIGKILL if trial % 2 else signal.SIGTERM
        run_dir = tmp_path / f"run{trial}"
        proc = start_run(path, run_dir)
        # a random moment of the run: from its first federate's start to well into the day
        wait_for(lambda d=run_dir: (d / "launch_plan.json").exists(), what="the launch plan")
        time.sleep(rng.uniform(0.0, 4.0))
        sent = time.monotonic()
        os.kill(proc.pid, signum)
        gone = seconds_until_gone(run_dir, sent)
        gone_s.append(gone)
        assert gone <= 3.0, f"trial {trial}: processes of the run alive {gone:.2f} s later"
        proc.communicate(timeout=60)
        # a port some other program took since (the machine is shared) is not a leak
        ours = set(run_processes(run_dir.resolve())) | {proc.pid}
        busy = [(host, port, port_holders(port)) for host, port in run_ports(run_dir)
                if not bindable(host, port)]
        leaked = [b for b in busy if not b[2] or set(b[2]) & ours]
        assert leaked == [], f"trial {trial}: ports still bound by the run: {leaked}"
        marker = run_dir / "INCOMPLETE"
        if signum == signal.SIGTERM:
            assert proc.returncode == 1
            assert marker.read_text().startswith("interrupted: stopped by SIGTERM")
        else:
            assert proc.returncode == -signal.SIGKILL
            assert marker.read_text().startswith("running: pid")  # nobody finished it
            result = gridfed("report", str(run_dir))
            assert result.returncode == 0, result.stderr
            assert marker.read_text().startswith("killed: runner")
            metrics = json.loads((run_dir / "metrics.json").read_text())
            assert metrics["complete"] is False and metrics["status"] == "killed"
        print(f"  trial {trial}: {signal.Signals(signum).name}, every process of the run "
              f"gone {gone:.2f} s after the signal")
    print(f"  {TRIALS} trials: slowest {max(gone_s):.2f} s, median "
          f"{sorted(gone_s)[TRIALS // 2]:.2f} s")
