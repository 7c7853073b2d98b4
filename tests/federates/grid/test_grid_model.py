"""Pure grid model (no HELICS) against OpenDSS's own quantities and closed-form checks."""

import numpy as np
import opendssdirect as dss
import pytest

from federates.grid.config import GridConfig
from federates.grid.federate import build_model
from federates.grid.model import ANSI_A, ANSI_B
from federates.messages import Injection


def model(feeder="case33bw", **controls):
    return build_model(GridConfig.model_validate({"feeder": feeder, "controls": controls}))


def load_powers_kw() -> float:
    """Sum of the active power every load draws, element by element (OpenDSS terminals)."""
    total = 0.0
    idx = dss.Loads.First()
    while idx:
        total += float(np.sum(dss.CktElement.Powers()[0::2]))
        idx = dss.Loads.Next()
    return total


def test_energy_balance_pcc_equals_loads_plus_losses():
    m = model()
    state = m.step(0.0, 0.8, {"pv": [Injection(bus="18", p_kw=-400.0, q_kvar=50.0)]})
    assert state.converged
    assert state.pcc_p_kw == pytest.approx(load_powers_kw() + state.losses_kw, rel=1e-9)


def test_injection_survives_the_load_multiplier_exactly():
    m = model()
    m.step(0.0, 0.37, {"a": [Injection(bus="18", p_kw=-150.0)],
                       "b": [Injection(bus="18", p_kw=20.0)]})
    dss.Circuit.SetActiveElement("Load.gridfed_inj_18")
    drawn = float(np.sum(dss.CktElement.Powers()[0::2]))
    assert drawn == pytest.approx(-130.0, rel=1e-7)  # constant PQ, sum of both sources


def test_source_that_stops_mentioning_a_bus_goes_back_to_zero():
    m = model()
    m.step(0.0, 1.0, {"a": [Injection(bus="18", p_kw=-150.0)]})
    m.step(60.0, 1.0, {"a": []})
    dss.Circuit.SetActiveElement("Load.gridfed_inj_18")
    assert float(np.sum(dss.CktElement.Powers()[0::2])) == pytest.approx(0.0, abs=1e-9)


def test_ansi_counts_and_extremes_match_the_voltages():
    m = model()
    state = m.step(0.0, 1.3, {})
    v = np.array(state.v_pu)
    v = v[v > 0.1]
    assert state.ansi_a_violations == int(((v < ANSI_A[0]) | (v > ANSI_A[1])).sum()) > 0
    assert state.ansi_b_violations == int(((v < ANSI_B[0]) | (v > ANSI_B[1])).sum())
    assert state.v_min_pu == pytest.approx(v.min(), abs=1e-7)  # published v_pu: 7 digits
    assert state.v_max_pu == pytest.approx(v.max(), abs=1e-7)
    assert len(state.node_names) == len(state.v_pu) == 99  # 33 buses x 3 phases


def test_pcc_reacts_to_an_injection_by_its_size_plus_loss_change():
    m = model()
    before = m.step(0.0, 1.0, {})
    after = m.step(60.0, 1.0, {"pv": [Injection(bus="18", p_kw=-100.0)]})
    delta_losses = after.losses_kw - before.losses_kw
    assert after.pcc_p_kw - before.pcc_p_kw == pytest.approx(-100.0 + delta_losses, rel=1e-6)
    assert delta_losses < 0  # feeding the far end reduces losses


def test_locked_taps_are_kept_and_free_regulators_act():
    locked = model("ieee123", locked_taps="published", capacitors=False)
    state = locked.step(0.0, 1.6, {})
    from feeders import load

    assert dict(zip(state.tap_names, state.taps, strict=True)) == load("ieee123").published_taps
    free = model("ieee123")
    light = dict(zip(*(lambda s: (s.tap_names, s.taps))(free.step(0.0, 0.3, {})), strict=True))
    heavy = dict(zip(*(lambda s: (s.tap_names, s.taps))(free.step(60.0, 1.6, {})), strict=True))
    assert heavy["reg1a"] > light["reg1a"]  # more load, the head regulator boosts


def test_unknown_bus_is_named():
    m = model()
    with pytest.raises(KeyError, match="'nowhere'"):
        m.step(0.0, 1.0, {"x": [Injection(bus="nowhere", p_kw=1.0)]})
