"""Every shipped scenario records the same series as before the architecture change."""

from __future__ import annotations

import json

import pytest

from tests.federations.regression import (
    FIXTURE,
    run_scenario,
    series_digests,
    shipped_scenarios,
)

EXPECTED = json.loads(FIXTURE.read_text())


def test_fixture_covers_every_shipped_scenario():
    assert sorted(EXPECTED) == shipped_scenarios()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_recorded_series_unchanged(name, tmp_path):
    got = series_digests(run_scenario(name, tmp_path / name))
    expected = EXPECTED[name]
    assert sorted(got) == sorted(expected), "recorded signals differ"
    changed = [s for s in expected if got[s] != expected[s]]
    assert changed == [], f"{name}: these series changed: {changed}"
