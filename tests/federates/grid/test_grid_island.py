"""Islanded grid (pure model): substation open, a grid-forming unit holds voltage."""

import numpy as np
import opendssdirect as dss
import pytest

from federates.grid.config import GridConfig
from federates.grid.federate import build_model
from federates.messages import Injection
from tests.federates.grid.test_grid_model import load_powers_kw


def island_model(feeder: str = "ieee123", **island):
    return build_model(GridConfig.model_validate(
        {"feeder": feeder, "island": {"enabled": True, **island}}))


def former_voltages_pu(bus: str) -> np.ndarray:
    dss.Circuit.SetActiveBus(bus)
    return np.asarray(dss.Bus.puVmagAngle()[0::2])


@pytest.mark.parametrize("feeder", ["ieee123", "ieee13"])
def test_island_imports_nothing_and_the_former_covers_loads_plus_losses(feeder):
    m = island_model(feeder)
    state = m.step(0.0, 1.0, {"pv": [Injection(bus=m.former_bus, p_kw=-300.0)]})
    assert state.converged
    assert state.pcc_p_kw == 0.0 and state.pcc_q_kvar == 0.0
    supplied = load_powers_kw() + state.losses_kw
    assert state.island_p_kw == pytest.approx(supplied, rel=1e-6)
    assert state.island_p_kw > 1000.0
    assert former_voltages_pu(m.former_bus) == pytest.approx(1.0, abs=1e-3)


def test_default_former_is_the_feeder_side_of_the_pcc_and_holds_its_voltage():
    m = island_model(v_pu=1.03)
    assert m.former_bus == "150r"  # ieee123: PCC is reg1a (150 -> 150r)
    state = m.step(0.0, 1.0, {})
    assert former_voltages_pu("150r") == pytest.approx(1.03, abs=1e-3)
    v = np.array(state.v_pu)
    dead = [n for n, x in zip(state.node_names, v, strict=True) if x <= 0.1]
    assert dead == ["150.1", "150.2", "150.3"]  # the substation side is de-energised
    assert state.v_min_pu > 0.9


def test_island_at_a_chosen_bus_follows_generation_changes():
    m = island_model(former_bus="67")
    before = m.step(0.0, 1.0, {})
    after = m.step(60.0, 1.0, {"dg": [Injection(bus="76", p_kw=-500.0)]})
    assert after.pcc_p_kw == 0.0
    assert after.island_p_kw == pytest.approx(load_powers_kw() + after.losses_kw, rel=1e-6)
    # voltage-dependent loads move a little: the former's output drops by about the DG
    assert after.island_p_kw - before.island_p_kw == pytest.approx(-500.0, abs=5.0)


def test_grid_connected_model_reports_no_island_output():
    m = build_model(GridConfig.model_validate({"feeder": "ieee13"}))
    state = m.step(0.0, 1.0, {})
    assert m.former_bus is None and state.island_p_kw == 0.0 and state.pcc_p_kw > 1000.0


def test_unknown_former_bus_is_rejected():
    with pytest.raises(KeyError, match="nowhere"):
        island_model("ieee13", former_bus="nowhere")


def test_island_on_a_feeder_whose_pcc_is_the_source():
    m = island_model("case33bw", former_bus="1")
    state = m.step(0.0, 1.0, {})
    assert state.pcc_p_kw == 0.0
    assert state.island_p_kw == pytest.approx(load_powers_kw() + state.losses_kw, rel=1e-6)


def test_grid_report_counts_the_island_energy():
    import pandas as pd

    from federates.grid.report import grid_metrics

    rows = [(t, sig, "", v) for t in (0.0, 60.0) for sig, v in (
        ("grid.pcc_p_kw", 0.0), ("grid.island_p_kw", 600.0 + t), ("grid.losses_kw", 6.0),
        ("grid.v_min_pu", 0.97), ("grid.v_max_pu", 1.03), ("grid.ansi_a_violations", 0.0),
        ("grid.ansi_b_violations", 0.0), ("grid.converged", 1.0))]
    ts = pd.DataFrame(rows, columns=["time", "signal", "id", "value"])
    m = grid_metrics("grid", ts)
    assert m["energy_imported_kwh"] == 0.0
    assert m["island_energy_kwh"] == pytest.approx((600.0 + 660.0) / 60.0)
    assert m["island_peak_kw"] == 660.0
