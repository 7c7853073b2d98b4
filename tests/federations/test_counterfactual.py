"""`gridfed run --counterfactual` on a short attack_1b: three runs, three folders, one comparison.

The shipped attack_1b is shortened (attack at 7 min, open-ended; `--set duration=12min`) so the
three runs fit in a test; everything else is the shipped file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from federates.resilience.comparison import RUNS, comparison_markdown
from runner.counterfactual import variant_overrides
from runner.schema import Scenario, ScenarioError, load_scenario
from tests.conftest import REPO, assert_clean, gridfed, interruptible, write_scenario

ATTACK_S = 420.0


def short_1b() -> dict:
    data = yaml.safe_load((REPO / "scenarios" / "attack_1b.yaml").read_text())
    data["federates"]["rm"]["config"]["warmup_s"] = 360
    data["federates"]["attacker"]["config"]["attacks"][0].update(start=ATTACK_S, end=None)
    return data


def scalar(run_dir, signal: str) -> pd.Series:
    ts = pd.read_parquet(run_dir / "timeseries.parquet")
    sel = ts[(ts.signal == signal) & (ts.id == "")]
    return sel.set_index("time")["value"].sort_index()


def test_variants_switch_off_mitigation_and_empty_the_schedule():
    scenario = load_scenario(REPO / "scenarios" / "attack_1b.yaml")
    variants = variant_overrides(scenario)
    assert "rm.mitigation=false" in variants["no_mitigation"]
    assert "attacker.attacks=[]" in variants["no_attack"]
    no_attack = load_scenario(REPO / "scenarios" / "attack_1b.yaml", variants["no_attack"])
    assert no_attack.federates["attacker"].config["attacks"] == []
    assert no_attack.broker.port is None
    lone = Scenario.model_validate({"name": "x", "feeder": "ieee13", "duration": 60,
                                    "federates": {"grid": {"kind": "grid"}}})
    with pytest.raises(ScenarioError, match="declares counterfactual variants"):
        variant_overrides(lone)


def test_counterfactual_runs_three_folders_and_compares(tmp_path):
    path = write_scenario(tmp_path / "attack_1b_short.yaml", short_1b())
    out = tmp_path / "run"
    result = gridfed("run", str(path), "--out", str(out), "--set", "duration=12min",
                     "--counterfactual", timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    no_mit, no_att = out / "counterfactual" / "no_mitigation", out / "counterfactual" / "no_attack"
    for run_dir in (out, no_mit, no_att):
        assert (run_dir / "timeseries.parquet").exists() and (run_dir / "metrics.json").exists()
        assert not (run_dir / "INCOMPLETE").exists()
        assert_clean(run_dir)
    ports = {json.loads((d / "launch_plan.json").read_text())["broker"]["address"]
             for d in (out, no_mit, no_att)}
    assert len(ports) == 3  # own broker (address and port) per run
    # the attacked run detects and mitigates; without mitigation: detected, no update sent
    assert scalar(out, "rm.detected").max() == 1.0 and scalar(out, "rm.updates").max() >= 1
    assert scalar(no_mit, "rm.detected").max() == 1.0
    assert scalar(no_mit, "rm.updates").max() == 0.0
    assert scalar(no_att, "rm.detected").max() == 0.0
    assert scalar(no_att, "attacker.active").max() == 0.0
    data = json.loads((out / "comparison.json").read_text())
    runs = data["runs"]
    assert runs["no_attack"]["detection_time_s"] is None
    assert runs["no_mitigation"]["coefficient_updates"] == 0
    assert runs["main"]["detection_time_s"] == runs["no_mitigation"]["detection_time_s"] >= ATTACK_S
    # same windows, same pre-attack history: the three runs agree before the attack
    pre = [runs[k]["windows"]["pre_attack"]["pcc_import_kw"] for k in RUNS]
    assert max(pre) - min(pre) < 1e-6 * abs(pre[0])
    # the attack (DG lost) raises the import against the attack-free run
    post = {k: runs[k]["windows"]["post_attack"]["pcc_import_kw"] for k in RUNS}
    assert post["no_mitigation"] > post["no_attack"]
    md = (out / "comparison.md").read_text()
    assert md == comparison_markdown(data)
    assert "| | Attack + mitigation | No mitigation | No attack |" in md
    assert md.count("| PCC import [kW] |") == 3  # one row per window
    # each run has its markdown report; the attacked run's links the comparison
    for run_dir in (out, no_mit, no_att):
        assert "## Attack and mitigation (rm)" in (run_dir / "report.md").read_text()
    assert "[comparison.md](comparison.md)" in (out / "report.md").read_text()
    # `gridfed report` regenerates the report and the comparison
    for name in ("report.md", "comparison.md", "comparison.json"):
        (out / name).unlink()
    (no_att / "report.md").unlink()
    again = gridfed("report", str(out))
    assert again.returncode == 0, again.stderr[-2000:]
    assert (out / "comparison.md").read_text() == md
    assert (out / "report.md").exists() and (no_att / "report.md").exists()


def test_ctrl_c_stops_the_attacked_run_and_the_variants_beside_it(tmp_path):
    """With `--jobs 3` the variants run beside the attacked run as child runs. Ctrl-C while
    all three are going stops every one of them: no process is left,
    no port taken, and each run keeps its partial results, marked INCOMPLETE."""
    path = write_scenario(tmp_path / "attack_1b_long.yaml", short_1b())
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "runner", "run", str(path), "--out",
                             str(out), "--set", "duration=6h", "--counterfactual",
                             "--jobs", "3", "--timeout", "300"], cwd=REPO,
                            preexec_fn=interruptible, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    dirs = [out, out / "counterfactual" / "no_mitigation", out / "counterfactual" / "no_attack"]
    def up(run_dir: Path) -> bool:  # broker listening and the recorder joined
        broker, recorder = run_dir / "logs" / "broker.log", run_dir / "logs" / "recorder.log"
        return broker.exists() and "ready" in broker.read_text() and recorder.exists()

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not all(up(d) for d in dirs):
        time.sleep(0.1)
    assert all(up(d) for d in dirs), "runs did not start"
    os.kill(proc.pid, signal.SIGINT)
    console, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert "counterfactual runs stopped" in console
    for run_dir in dirs:
        assert (run_dir / "INCOMPLETE").exists()
        assert_clean(run_dir)
