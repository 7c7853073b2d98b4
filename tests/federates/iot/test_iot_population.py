"""Population builder: determinism, allocation, hierarchy, the ieee123_der preset."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import feeders
from federates.iot.population import build, largest_remainder, load_points
from federates.iot.spec import PopulationSpec, resolve

LOADS = pd.DataFrame({"bus": ["1", "2", "3", "3", "7"], "nodes": ["1", "2", "1.2.3", "1", "3"],
                      "kw": [40.0, 20.0, 105.0, 40.0, 60.0],
                      "kvar": [20.0, 10.0, 75.0, 20.0, 30.0]})


def _spec(**kw) -> PopulationSpec:
    base = {"houses": 60, "waterheater": {"share": 0.4}, "pv": {"count": 12, "total_kva": 50},
            "battery": {"count": 6, "buses": 2}, "ev": {"count": 9, "v2g_share": 0.5}}
    return PopulationSpec.model_validate({**base, **kw})


def _arrays(pop) -> dict[str, np.ndarray]:
    return {"ua": pop.house.etp.ua, "cm": pop.house.etp.cm, "cap": pop.house.hvac.cool_cap_kw,
            "sp": pop.cool_sp, "trust": pop.trust, "wh": pop.wh_house, "pv": pop.pv_house,
            "kva": pop.pv.s_rated_kva, "bat": pop.bat_house, "ev": pop.ev_house,
            "arr": pop.ev.arrival_h, "res": pop.residual_kw}


def test_same_seed_same_population_and_different_seed_differs():
    a, b, c = build(_spec(), LOADS, seed=5), build(_spec(), LOADS, seed=5), build(_spec(), LOADS, 6)
    for k, v in _arrays(a).items():
        np.testing.assert_array_equal(v, _arrays(b)[k], err_msg=k)
    assert list(a.agents) == list(b.agents)
    assert not np.array_equal(a.house.etp.ua, c.house.etp.ua)
    # an explicit spec seed wins over the scenario seed
    d = build(_spec(seed=42), LOADS, seed=1)
    e = build(_spec(seed=42), LOADS, seed=2)
    np.testing.assert_array_equal(d.house.etp.ua, e.house.etp.ua)


def test_load_points_split_multiphase_loads():
    pts = load_points(LOADS)
    assert list(zip(pts.bus, pts.phase, strict=True)) == [
        ("1", 1), ("2", 2), ("3", 1), ("3", 2), ("3", 3), ("7", 3)]
    assert pts.loc[(pts.bus == "3") & (pts.phase == 1), "kw"].item() == pytest.approx(75.0)
    assert pts.kw.sum() == pytest.approx(LOADS.kw.sum())


def test_allocation_counts_hierarchy_and_bus_totals():
    pop = build(_spec(), LOADS, seed=3)
    assert pop.n_houses == 60 and pop.smos == ["1", "2", "3", "7"]
    per_bus = np.bincount(pop.smo_index)
    assert per_bus.min() >= 1 and per_bus.sum() == 60
    # proportional to bus kW (bus 3 carries 145 of 265 kW)
    assert abs(per_bus[2] - 60 * 145 / 265) <= 1
    counts = pop.device_counts()
    assert counts == {"houses": 60, "hvac": 60, "waterheater": 24, "pv": 12, "battery": 6,
                      "ev": 9}
    assert pop.pv.s_rated_kva.sum() == pytest.approx(50.0)
    assert len(np.unique(pop.smo_index[pop.bat_house])) == 2
    for idx in (pop.wh_house, pop.pv_house, pop.bat_house, pop.ev_house):
        assert len(np.unique(idx)) == len(idx)  # at most one device of a type per house
    house_kw = np.bincount(pop.bp_index, pop.nominal_kw, minlength=len(pop.bus_phases))
    np.testing.assert_allclose(house_kw + pop.residual_kw, load_points(LOADS).kw)
    assert all(a.startswith(f"h{pop.smos[s]}_") for a, s in zip(pop.agents, pop.smo_index,
                                                                strict=True))
    assert len(set(pop.agents)) == pop.n_houses
    assert np.all((pop.trust > 0) & (pop.trust < 1)) and not pop.compromised.any()


def test_houses_per_bus_and_compromised_share():
    pop = build(_spec(houses_per_bus={"1": 3, "7": 2}, house={"compromised_share": 1.0},
                      pv={"count": 1}, battery={"count": 1}, ev={"count": 1},
                      waterheater={"count": 2}), LOADS, seed=1)
    assert pop.smos == ["1", "7"] and pop.n_houses == 5 and pop.compromised.all()


def test_largest_remainder():
    assert largest_remainder(10, np.array([1.0, 1.0, 1.0])).tolist() == [4, 3, 3]
    assert largest_remainder(5, np.array([0.0, 10.0]), minimum=1).tolist() == [1, 4]
    with pytest.raises(ValueError):
        largest_remainder(1, np.ones(3), minimum=1)


def test_bad_specs_name_the_problem():
    with pytest.raises(ValueError, match="either count or share"):
        PopulationSpec.model_validate({"pv": {"count": 3, "share": 0.1}})
    with pytest.raises(ValueError, match="exceeds"):
        build(_spec(pv={"count": 100}), LOADS)
    with pytest.raises(ValueError, match="carry no load"):
        build(_spec(houses_per_bus={"99": 1}), LOADS)


def test_preset_merges_user_overrides():
    spec = resolve(PopulationSpec.model_validate(
        {"preset": "ieee123_der", "pv": {"volt_var": True}, "ev": {"share": 0.1}}))
    assert spec.houses == 1008 and spec.pv.count == 207 and spec.pv.volt_var
    assert spec.ev.count is None and spec.ev.share == 0.1


def test_ieee123_der_preset_matches_the_seed():
    tables = feeders.load("ieee123").tables
    pop = build(PopulationSpec(preset="ieee123_der"), tables.loads, seed=7)
    c = pop.device_counts()
    assert (c["houses"], c["hvac"], c["waterheater"], c["pv"], c["battery"]) == (
        1008, 1008, 348, 207, 173)
    assert len(pop.smos) == 85 and np.bincount(pop.smo_index).min() >= 1
    assert pop.pv.s_rated_kva.sum() == pytest.approx(880.84)
    assert pop.battery.p_rated_kw.sum() == pytest.approx(865.0)
    assert len(np.unique(pop.smo_index[pop.pv_house])) == 68
    assert len(np.unique(pop.smo_index[pop.bat_house])) == 63
    pts = load_points(tables.loads)
    house_kw = np.bincount(pop.bp_index, pop.nominal_kw, minlength=len(pts))
    np.testing.assert_allclose(house_kw + pop.residual_kw, pts.kw, atol=1e-9)
    by_bus = pd.Series(house_kw + pop.residual_kw).groupby(pts.bus.to_numpy()).sum()
    spot = tables.loads.groupby("bus").kw.sum()
    np.testing.assert_allclose(by_bus.reindex(spot.index), spot, atol=1e-9)
    assert not pop.notes  # no bus needed a negative residual
