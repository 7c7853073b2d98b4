"""Built-in profiles and the profile player against closed-form values."""

import math

import numpy as np
import pytest

from federates.common.profiles import RESIDENTIAL, clear_sky_pv, profile_values
from federates.player.config import PlayerConfig, PlayerItem
from federates.player.model import PlayerModel, q_from_pf


def test_hourly_shape_hits_knots_and_interpolates():
    t = np.array([0.0, 3600.0 * 19, 3600.0 * 19.5, 86_400.0 + 3600.0])
    v = profile_values("residential", t)
    assert v[0] == RESIDENTIAL[0]
    assert v[1] == 1.0
    assert v[2] == pytest.approx((RESIDENTIAL[19] + RESIDENTIAL[20]) / 2)
    assert v[3] == RESIDENTIAL[1]  # wraps at midnight


def test_clear_sky_pv_is_zero_at_night_and_one_at_solstice_noon():
    t = np.array([0.0, 12 * 3600.0, 23 * 3600.0])
    v = clear_sky_pv(t, latitude_deg=35.0, day_of_year=172)
    assert v[0] == 0.0 and v[2] == 0.0
    assert v[1] == pytest.approx(1.0)
    # symmetric around solar noon
    assert clear_sky_pv(np.array([10 * 3600.0]))[0] == pytest.approx(
        clear_sky_pv(np.array([14 * 3600.0]))[0])


def test_csv_profile_and_errors(tmp_path):
    good = tmp_path / "p.csv"
    good.write_text("time_s,value\n0,0\n100,1\n")
    assert profile_values(str(good), 50.0)[0] == pytest.approx(0.5)
    assert profile_values(str(good), 500.0)[0] == 1.0  # held beyond the end
    bad = tmp_path / "bad.csv"
    bad.write_text("t,v\n0,1\n")
    with pytest.raises(ValueError, match="time_s"):
        profile_values(str(bad), 0.0)
    with pytest.raises(ValueError, match="unknown profile 'nope'"):
        profile_values("nope", 0.0)


def test_q_from_power_factor():
    q = q_from_pf(np.array([100.0, -100.0]), 0.8)
    assert q == pytest.approx([75.0, 75.0])
    assert q_from_pf(np.array([100.0]), -0.8)[0] == pytest.approx(-75.0)
    assert q_from_pf(np.array([100.0]), 1.0)[0] == 0.0


def test_player_scales_profiles_per_item():
    cfg = PlayerConfig(items=[
        PlayerItem(bus="48", profile="pv_clear_sky", p_kw=-200.0),
        PlayerItem(bus="65", profile="flat", p_kw=30.0, power_factor=0.9),
    ])
    inj = PlayerModel(cfg).injections(12 * 3600.0)
    assert inj[0].bus == "48" and inj[0].p_kw == pytest.approx(-200.0)
    assert inj[1].p_kw == 30.0
    assert inj[1].q_kvar == pytest.approx(30.0 * math.tan(math.acos(0.9)))
