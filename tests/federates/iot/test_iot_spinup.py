"""Device spin-up: the population starts a run from a settled state, not nominal ones."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from federates.common.weather import builtin
from federates.iot.config import IotConfig
from federates.iot.federate import build_population
from federates.iot.model import PopulationModel, settled_model

SPEC = {"loads": [{"bus": "1", "nodes": "1", "kw": 120, "kvar": 60},
                  {"bus": "5", "nodes": "1.2.3", "kw": 240, "kvar": 120}],
        "population": {"houses": 120, "waterheater": {"share": 0.5}, "pv": {"count": 30},
                       "battery": {"count": 10}, "ev": {"count": 20}},
        "seed": 5}
NOON = 12 * 3600.0


def _mean_load(model: PopulationModel, t0: float, minutes: int = 60) -> float:
    return float(np.mean([model.step(t0 + 60 * k, 60).house_kw.sum() for k in range(minutes)]))


@pytest.fixture(scope="module")
def pop():
    return build_population(IotConfig.model_validate(SPEC))


def test_zero_spin_up_is_the_nominal_start(pop):
    a = settled_model(pop, builtin("summer"), NOON, 0.0, 60.0)
    b = PopulationModel(pop, builtin("summer"), NOON)
    for name in ("ta", "tm", "cool_on", "wh_temp", "bat_e", "ev_soc"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_spun_up_load_is_settled_and_the_cold_start_is_not(pop):
    """A day of spin-up and two days agree to 2 %; the nominal start under-states a hot
    noon's load (mass not heat-soaked) by more than 5 %."""
    weather = builtin("summer")
    day = _mean_load(settled_model(pop, weather, NOON, 24 * 3600.0, 60.0), NOON)
    two = _mean_load(settled_model(pop, weather, NOON, 48 * 3600.0, 60.0), NOON)
    cold = _mean_load(PopulationModel(pop, weather, NOON), NOON)
    assert day == pytest.approx(two, rel=0.02)
    assert cold < 0.95 * day
    # the mass carries the day's heat after spin-up: warmer than the air at a hot noon
    spun = settled_model(pop, weather, NOON, 24 * 3600.0, 60.0)
    assert np.mean(spun.tm - spun.ta) > 0.1


def test_spin_up_ends_exactly_at_the_start_time(pop):
    """The spin-up covers whole steps ending at the start: the next step is the run's first."""
    weather = builtin("summer")
    m = settled_model(pop, weather, NOON, 90.0, 60.0)  # rounds to 2 steps of 60 s
    ref = PopulationModel(pop, weather, NOON - 120.0)
    ref.step(NOON - 120.0, 60.0)
    ref.step(NOON - 60.0, 60.0)
    np.testing.assert_array_equal(m.ta, ref.ta)
    np.testing.assert_array_equal(m.step(NOON, 60.0).house_kw, ref.step(NOON, 60.0).house_kw)


def test_spin_up_config_is_validated():
    assert IotConfig().spin_up_h == 24.0
    with pytest.raises(ValidationError, match="spin_up_h"):
        IotConfig(spin_up_h=-1)
    with pytest.raises(ValidationError, match="spin_up_step_s"):
        IotConfig(spin_up_step_s=0)
