"""The transactive study writes its outputs and its Table III carries the paper's trades."""

import json

import numpy as np
import yaml

from runner.studies import transactive


def test_study_runs_and_writes_outputs(tmp_path):
    doc = yaml.safe_load(open("scenarios/studies/transactive_case118zh.yaml"))
    assert doc["kind"] == "transactive"
    cfg = transactive.Config(**{**doc["config"], "max_iter_literal": 2000,
                                "max_iter_accelerated": 4000, "continuous_horizon": 500})
    head = transactive.run(cfg, tmp_path, seed=doc["seed"])
    for name in ("results.json", "report.md", "table3.parquet", "convergence.parquet",
                 "convergence_calibrated_accelerated.png", "convergence_continuous.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["u"] == head["u"]
    # the paper's printed trades (Table III) are reproduced to its rounding
    assert head["max_dp_vs_paper_mwh"] < 1.5e-4
    assert head["distributed"]["copper_plate.accelerated"]["converged"]
    assert np.isclose(head["reserve_saved_mwh"], 0.0784, atol=2e-4)


def test_config_rejects_unknown_fields():
    import pydantic
    import pytest

    with pytest.raises(pydantic.ValidationError, match="bogus"):
        transactive.Config(bogus=1)
