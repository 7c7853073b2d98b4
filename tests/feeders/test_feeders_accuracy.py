"""Accuracy of the feeders built from the project's tables.

IEEE 13/123: node voltages and losses against fixtures derived once (outside the project)
from OpenDSS solutions of the original IEEE/EPRI files with the same regulator taps locked.
MATPOWER cases: against an independent pandapower power flow built here from the same
tables, and against the published Baran & Wu results.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import opendssdirect as dss
import pandapower as pp
import pandas as pd
import pytest

import feeders

FIXTURES = Path(__file__).parents[1] / "fixtures" / "feeders"


def solve(name: str, tolerance: float | None = None, **kw) -> tuple[pd.Series, float]:
    """Compile feeder ``name`` in-process, solve, return node |V| (pu) and losses (kW)."""
    for cmd in feeders.load(name).dss_commands(**kw):
        dss.Text.Command(cmd)
    if tolerance is not None:
        dss.Text.Command(f"Set Tolerance={tolerance}")
    dss.Solution.Solve()
    assert dss.Solution.Converged()
    v = pd.Series(dss.Circuit.AllBusMagPu(), index=dss.Circuit.AllNodeNames())
    return v, dss.Circuit.Losses()[0] / 1e3


@pytest.mark.parametrize("name", ["ieee13", "ieee123"])
@pytest.mark.parametrize("tolerance", [1e-10, None])
def test_ieee_matches_original_opendss(name: str, tolerance: float | None) -> None:
    f = feeders.load(name)
    expected = pd.read_csv(FIXTURES / f"{name}_expected.csv")
    ref = json.loads((FIXTURES / f"{name}_losses.json").read_text())
    v, losses = solve(name, tolerance, taps=f.published_taps, lock_controls=True)
    assert sorted(v.index) == sorted(expected["node"])  # same node names, node by node
    err = np.abs(v.reindex(expected["node"]).to_numpy() - expected["v_pu"].to_numpy())
    assert err.max() < 1e-4
    assert abs(losses / ref["losses_kw"] - 1.0) < 1e-3
    if tolerance is not None:  # same solver settings as the fixture: essentially exact
        assert err.max() < 1e-7
        assert abs(losses / ref["losses_kw"] - 1.0) < 1e-6


def test_ieee_taps_are_applied_and_locked() -> None:
    f = feeders.load("ieee123")
    solve("ieee123", taps=f.published_taps, lock_controls=True)
    for reg, step in f.published_taps.items():
        dss.Transformers.Name(reg)
        dss.Transformers.Wdg(2)
        assert dss.Transformers.Tap() == pytest.approx(1.0 + 0.00625 * step)
    for ctrl in f.regcontrols:
        dss.Circuit.SetActiveElement(f"RegControl.{ctrl}")
        assert not dss.CktElement.Enabled()


def pandapower_flow(name: str) -> tuple[float, float, str]:
    """Independent balanced power flow from the project's tables: losses kW, Vmin, bus."""
    t = feeders.load(name).tables
    net = pp.create_empty_network(sn_mva=t.meta["s_base_kva"] / 1000.0)
    kvs = zip(t.buses["bus"], t.buses["base_kv_ll"], strict=True)
    idx = {b: pp.create_bus(net, vn_kv=kv, name=b) for b, kv in kvs}
    pp.create_ext_grid(net, idx[t.meta["source_bus"]], vm_pu=t.meta["source"]["pu"])
    for r in t.lines.itertuples():
        pp.create_line_from_parameters(
            net, idx[r.bus1], idx[r.bus2], length_km=r.length, r_ohm_per_km=r.r1,
            x_ohm_per_km=r.x1, c_nf_per_km=0.0, max_i_ka=1.0, in_service=bool(r.enabled))
    for r in t.loads.itertuples():
        pp.create_load(net, idx[r.bus], p_mw=r.kw / 1000.0, q_mvar=r.kvar / 1000.0)
    pp.runpp(net, tolerance_mva=1e-10, calculate_voltage_angles=True, numba=False)
    vm = net.res_bus["vm_pu"]
    return float(net.res_line["pl_mw"].sum() * 1000.0), float(vm.min()), net.bus.name[vm.idxmin()]


@pytest.mark.parametrize("name", ["case33bw", "case118zh"])
def test_matpower_cases_match_pandapower(name: str) -> None:
    pp_loss, pp_vmin, pp_bus = pandapower_flow(name)
    v, losses = solve(name, tolerance=1e-10)
    assert abs(losses / pp_loss - 1.0) < 1e-3
    assert v.min() == pytest.approx(pp_vmin, abs=1e-4)
    assert v.idxmin().split(".")[0] == pp_bus


def test_case33bw_literature_values() -> None:
    v, losses = solve("case33bw")
    assert losses == pytest.approx(202.7, abs=0.1)  # Baran & Wu 1989: 202.7 kW
    assert v.min() == pytest.approx(0.9131, abs=1e-4)
    assert v.idxmin().split(".")[0] == "18"
