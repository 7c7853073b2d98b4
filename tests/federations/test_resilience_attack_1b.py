"""A short attack_1b through the real runner: grid, houses, market, manager, attacker, recorder.

The shipped scenario is shortened (20 min, attack at 10 min, no end) so it runs in a test;
everything else -- population, market, target selection, filters -- is the shipped file.
"""

from __future__ import annotations

import json

import pandas as pd
import yaml

from tests.conftest import REPO, assert_clean, gridfed, write_scenario

ATTACK_S, STEP = 600.0, 60.0


def short_1b() -> dict:
    data = yaml.safe_load((REPO / "scenarios" / "attack_1b.yaml").read_text())
    data["duration"] = "20min"
    data["federates"]["rm"]["config"]["warmup_s"] = 360
    attack = data["federates"]["attacker"]["config"]["attacks"][0]
    attack.update(start=ATTACK_S, end=None)
    return data


def test_short_attack_1b_detected_cut_and_mitigated(tmp_path):
    path = write_scenario(tmp_path / "attack_1b_short.yaml", short_1b())
    run_dir = tmp_path / "run"
    result = gridfed("run", str(path), "--out", str(run_dir), timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert_clean(run_dir)
    ts = pd.read_parquet(run_dir / "timeseries.parquet")

    def scalar(signal: str) -> pd.Series:
        sel = ts[(ts.signal == signal) & (ts.id == "")]
        return sel.set_index("time")["value"].sort_index()

    attacked = set(ts[(ts.signal == "attacker.attacked") & (ts.value > 0)].id)
    assert len(attacked) == 1  # the most vulnerable bus
    # no false alarm before the attack, detection within one step of it
    detected = scalar("rm.detected")
    assert detected[detected.index < ATTACK_S].max() == 0.0
    first = detected[detected > 0].index.min()
    assert ATTACK_S <= first <= ATTACK_S + STEP
    # the attack raised the import above the market's schedule
    gap = scalar("rm.measured_kw") - scalar("rm.scheduled_kw")
    assert gap[ATTACK_S:first].max() > 10.0
    # the cut bus stops reporting: lowest resilience score at the end; others stay trusted
    rs = ts[(ts.signal == "rm.scores.resilience")]
    rs = rs[rs.time == rs.time.max()].set_index("id")["value"]
    (bus,) = attacked
    assert rs[bus] == rs.min() and rs[bus] < 0.8 and rs.drop(bus).min() > 0.9
    # coefficient updates went to the market: alpha and beta lowered (never raised), xi raised
    assert scalar("rm.updates").max() >= 1
    alpha, beta, xi = (scalar(f"rm.{k}") for k in ("alpha_factor_mean", "beta_factor_mean",
                                                    "xi_factor"))
    assert alpha.min() < 1.0 and beta.min() < 1.0 and xi.max() > 1.0
    assert alpha.max() <= 1.0 and beta.max() <= 1.0 and xi.min() >= 1.0
    metrics = json.loads((run_dir / "metrics.json").read_text())["federates"]["rm"]
    assert metrics["attack_start_s"] == ATTACK_S and metrics["detection_time_s"] == first
