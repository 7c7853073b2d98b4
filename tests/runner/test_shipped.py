"""Every shipped scenario and study validates and compiles, with the step order the
architecture promises: attacker -> devices -> grid -> market -> resilience -> recorder."""

from __future__ import annotations

import json

import pytest

from federates.registry import wrapper_class
from runner.compile import compile_scenario
from runner.schema import SCENARIO_DIR, load_scenario
from runner.studies import STUDY_DIR, load_study

ORDER = ["attacker", "player", "iot", "grid", "market", "resilience", "recorder"]
SCENARIOS = sorted(SCENARIO_DIR.glob("*.yaml"))
STUDIES = sorted(STUDY_DIR.glob("*.yaml")) if STUDY_DIR.is_dir() else []


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_shipped_scenario_compiles_in_step_order(path, tmp_path):
    scenario = load_scenario(path)
    plan = compile_scenario(scenario, tmp_path, broker_port=23500, broker_key="k",
                            broker_name="b")
    plan.write(tmp_path)
    phases = {f.kind: f.runtime.phase for f in plan.federates}
    ranks = [phases[k] for k in ORDER if k in phases]
    assert ranks == sorted(ranks), phases
    assert phases.get("player", 1) == phases.get("iot", 1)  # devices share a phase
    if "market" in phases and "resilience" in phases:
        assert phases["market"] < phases["resilience"]  # the manager sees this clearing
    for fed in plan.federates:  # what a child process reads validates back
        spec = json.loads((tmp_path / "configs" / f"{fed.name}.json").read_text())
        cls = wrapper_class(spec["kind"])
        assert cls.config_model.model_validate(spec["config"]) == fed.config


def test_every_shipped_study_validates():
    for path in STUDIES:
        study = load_study(str(path))
        assert study.spec.name == path.stem and study.config is not None


def test_every_scenario_folder_is_covered():
    assert len(SCENARIOS) >= 9
