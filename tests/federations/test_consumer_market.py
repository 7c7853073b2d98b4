"""cm_ieee123 through a real broker: consumer markets below every SMO deliver the SMOs'
secondary-market totals with their houses' best responses."""

from __future__ import annotations

import numpy as np

from runner.results import read_timeseries
from tests.conftest import REPO, assert_clean, gridfed


def test_consumer_markets_track_the_secondary_totals(tmp_path):
    run_dir = tmp_path / "run"
    result = gridfed("run", str(REPO / "scenarios" / "cm_ieee123.yaml"),
                     "--set", "duration=10min", "--out", str(run_dir), timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    ts = read_timeseries(run_dir)

    def wide(signal: str):
        rows = ts[ts["signal"] == signal]
        return rows.pivot_table(index="time", columns="id", values="value")

    sec, cm = wide("market.secondary.p_kw"), wide("market.consumer.p_kw")
    assert sorted(cm.index) == [0.0, 300.0, 600.0]
    assert cm.shape[1] >= 80  # (nearly) every SMO ran its consumer market
    common = cm.columns.intersection(sec.columns)
    np.testing.assert_allclose(cm[common].to_numpy(), sec.loc[cm.index, common].to_numpy(),
                               atol=1e-6)
    err = wide("market.consumer.tracking_error_kw").to_numpy()
    assert np.nanmax(np.abs(err)) <= 1e-6
    mu, mu_dev = wide("market.consumer.price"), wide("market.consumer.price_deviation")
    assert np.isfinite(mu.to_numpy()).all() and np.isfinite(mu_dev.to_numpy()).all()
    dispatched = ts[ts["signal"] == "houses.dispatched_agents"].set_index("time")["value"]
    assert dispatched.loc[60.0] > 500  # the houses received their responses
    assert_clean(run_dir)
