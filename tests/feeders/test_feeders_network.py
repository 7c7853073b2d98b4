"""The Network arrays: topology, impedances and a DistFlow check against OpenDSS."""

from __future__ import annotations

import numpy as np
import opendssdirect as dss
import pytest

import feeders
from feeders import Network

NAMES = ["ieee13", "ieee123", "case33bw", "case118zh"]


@pytest.mark.parametrize("name", NAMES)
def test_network_is_a_radial_tree(name: str) -> None:
    net = feeders.load(name).network
    n = net.n_buses
    assert net.n_branches == n - 1
    assert net.buses[0] == feeders.load(name).source_bus
    assert net.bus_index == {b: i for i, b in enumerate(net.buses)}
    assert np.array_equal(net.to_bus, np.arange(1, n))
    assert np.all((net.from_bus >= 0) & (net.from_bus < net.to_bus))  # parents come first
    par = net.parent()
    assert par[0] == -1 and np.array_equal(par[1:], net.from_bus)
    assert sorted(net.downstream_buses(0).tolist()) == list(range(n))
    for arr in (net.r_ohm, net.x_ohm, net.tap_ratio, net.rating_a, net.base_kv_ln):
        assert arr.shape == (n - 1,) or arr.shape == (n,)
    lines = np.array([k == "line" for k in net.branch_kind])
    assert np.all(net.r_ohm[lines] > 0) and np.all(net.x_ohm[lines] > 0)
    assert np.all(net.r_ohm >= 0)
    for z, ph in zip(net.z_abc, net.branch_phases, strict=True):
        assert z.shape == (len(ph), len(ph)) and np.allclose(z, z.T)
    assert net.load_p_kw.sum() == pytest.approx(feeders.load(name).loads["kw"].sum())
    assert np.allclose(net.load_p_kw_abc.sum(axis=1), net.load_p_kw)


def test_ieee123_network_details() -> None:
    f = feeders.load("ieee123")
    net = f.network
    assert "300_open" not in net.bus_index and "94_open" not in net.bus_index
    assert net.n_buses == len(f.tables.buses) - 2
    k = net.branch_names.index("reg4a+reg4b+reg4c")
    assert net.branch_kind[k] == "regulator"
    assert np.allclose(net.tap_ratio_abc[k], 1 + 0.00625 * np.array([8, 1, 5]))
    assert net.tap_ratio[k] == pytest.approx(1 + 0.00625 * 14 / 3)
    assert net.buses[net.from_bus[k]] == "160" and net.buses[net.to_bus[k]] == "160r"
    xfm = net.branch_names.index("XFM1")
    assert net.base_kv_ln[net.to_bus[xfm]] == pytest.approx(0.48 / np.sqrt(3))
    assert net.bus_phases[net.bus_index["2"]] == (2,)
    kids = net.children()
    assert set(kids[net.bus_index["1"]]) == {net.bus_index[b] for b in ("2", "3", "7")}
    down = net.downstream_buses(net.bus_index["3"])
    assert {net.buses[i] for i in down} == {"3", "4", "5", "6"}


@pytest.mark.parametrize("name", ["ieee13", "ieee123"])
def test_line_impedances_match_opendss(name: str) -> None:
    f = feeders.load(name)
    for cmd in f.dss_commands():
        dss.Text.Command(cmd)
    net = f.network
    for k, kind in enumerate(net.branch_kind):
        if kind not in ("line", "switch"):
            continue
        dss.Lines.Name(net.branch_names[k])
        n = dss.Lines.Phases()
        z = (np.reshape(dss.Lines.RMatrix(), (n, n))
             + 1j * np.reshape(dss.Lines.XMatrix(), (n, n))) * dss.Lines.Length()
        assert np.allclose(net.z_abc[k], z, rtol=1e-9, atol=1e-12), net.branch_names[k]


def sweep_losses_kw(net: Network, iters: int = 50) -> tuple[float, np.ndarray]:
    """Backward-forward sweep on the positive-sequence arrays (per unit)."""
    z = net.r_pu() + 1j * net.x_pu()
    s = (net.load_p_kw + 1j * net.load_q_kvar) / net.s_base_kva
    v = np.full(net.n_buses, net.v_source_pu, dtype=complex)
    par = net.parent()
    for _ in range(iters):
        i_bus = np.conj(s / v)
        i_br = i_bus.copy()
        for b in range(net.n_buses - 1, 0, -1):  # buses are in BFS order: children last
            i_br[par[b]] += i_br[b]
        for b in range(1, net.n_buses):  # branch b-1 feeds bus b
            v[b] = v[par[b]] * net.tap_ratio[b - 1] - z[b - 1] * i_br[b]
    losses = np.sum(np.abs(i_br[1:]) ** 2 * net.r_pu()) * net.s_base_kva
    return float(losses), np.abs(v)


@pytest.mark.parametrize("name", ["case33bw", "case118zh"])
def test_distflow_sweep_reproduces_opendss(name: str) -> None:
    f = feeders.load(name)
    for cmd in f.dss_commands():
        dss.Text.Command(cmd)
    dss.Solution.Solve()
    losses, vmag = sweep_losses_kw(f.network)
    assert losses == pytest.approx(dss.Circuit.Losses()[0] / 1e3, rel=0.01)
    v_dss = dict(zip(dss.Circuit.AllBusNames(), np.reshape(dss.Circuit.AllBusMagPu(), (-1, 3))
                     .mean(axis=1), strict=True))
    expected = np.array([v_dss[b] for b in f.network.buses])
    assert np.abs(vmag - expected).max() < 1e-4


def test_per_unit_helpers() -> None:
    net = feeders.load("case33bw").network
    assert net.s_base_kva == 10000.0
    assert net.r_pu()[0] == pytest.approx(0.0922 / (12.66**2 / 10.0))
    assert net.x_pu()[0] == pytest.approx(0.0470 / (12.66**2 / 10.0))
    assert np.all(net.tap_ratio == 1.0)
    assert net.v_source_pu == 1.0


def test_shared_network_arrays_are_read_only() -> None:
    net = feeders.load("case33bw").network
    with pytest.raises(ValueError):
        net.r_ohm[0] = 1.0
    with pytest.raises(ValueError):
        net.z_abc[0][0, 0] = 1.0
    assert net.r_pu().flags.writeable  # derived arrays are fresh


def test_lengths_and_distance() -> None:
    net = feeders.load("ieee13").network
    d = net.distance_km()
    # 650632 (2000 ft) + 632670 (667 ft) + 670671 (1333 ft) + 671680 (1000 ft)
    assert d[net.bus_index["680"]] == pytest.approx(5000 * 0.3048 / 1000)
    assert d[net.bus_index["650"]] == 0.0
    assert np.all(np.isnan(feeders.load("case33bw").network.distance_km()[1:]))
