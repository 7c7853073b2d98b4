"""The DOE study end to end on a tiny IEEE 13 configuration (no HELICS)."""

import json

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from federates.doe.surrogates import file_hash
from runner.studies.doe import Config, run


def test_unknown_config_field_is_rejected_by_name():
    with pytest.raises(ValidationError, match="sampels"):
        Config(feeder="ieee13", sampels=10)


def test_study_writes_tables_plots_report_and_versioned_weights(tmp_path):
    cfg = Config(feeder="ieee13", hours=24, samples=1000, m_peak=1.0, epochs=20, batch=128,
                 lr=3e-3, widths={k: [16, 8] for k in "LVIP"}, b2_intervals=2,
                 b2_time_limit_s=20, b4_time_limit_s=5,
                 limits={"v_min_pu": 0.95, "v_max_pu": 1.08, "i_max_a": 650, "p_rev_kw": 200})
    head = run(cfg, tmp_path, seed=4)
    assert json.loads((tmp_path / "results.json").read_text())["b1_vs_b3"] == json.loads(
        json.dumps(head["b1_vs_b3"], default=float))
    series = pd.read_parquet(tmp_path / "series.parquet")
    assert len(series) == 24 * 2 * 3 + 2 * 2  # B0, B1, B3 everywhere, B2 on two intervals
    snaps = pd.read_parquet(tmp_path / "snapshots.parquet")
    assert sorted(snaps.method.unique()) == ["B0", "B1", "B2", "B3", "B4"]
    for study in ("upper", "lower"):
        g = snaps[snaps.study == study].set_index("method")
        assert g.loc["B1", "model_J"] == pytest.approx(g.loc["B2", "model_J"], rel=1e-6)
        # J adds up from OpenDSS terms on every row, as in the seed's tables
        assert np.allclose(g["J"], g["J_D"] + g["J_L"] + g["J_V"])
        assert head["b1_vs_b3"][study]["b1_b2_max_rel_diff"] <= 1e-6
    # the DOE never leaves the forecast range
    for d in ("pv", "ev"):
        assert np.all(series[f"p_{d}"] >= series[f"lo_{d}"] - 1e-6)
        assert np.all(series[f"p_{d}"] <= series[f"hi_{d}"] + 1e-6)
    assert head["adaptivity"]["objective_decreased"] == 0
    for png in ("doe_day.png", "doe_series.png"):
        assert (tmp_path / png).stat().st_size > 10_000
    report = (tmp_path / "report.md").read_text()
    assert "45.77" in report and "Table III" in report and "balanced" in report
    meta = json.loads((tmp_path / "weights" / "icnn_ieee13.json").read_text())
    assert meta["weights_sha256"] == file_hash(tmp_path / "weights" / "icnn_ieee13.npz")
    assert meta["weights_sha256"] == head["info"]["weights_sha256"]
    assert meta["seed"] == 4 and len(meta["data_sha256"]) == 16
