"""Market network model: exact DistFlow and the balanced-equivalent reduction vs OpenDSS."""

from __future__ import annotations

import numpy as np
import pytest

import feeders
from federates.market.validation import opendss_solve
from feeders.distflow import distflow
from feeders.network import Network


def two_bus(p: float, q: float, r: float = 0.02, x: float = 0.04) -> Network:
    return Network.from_pu(buses=["s", "a"], parent=np.array([0]), r=[r], x=[x], i_max=[np.inf],
                         tap=[1.0], load_p=[0.0, p], load_q=[0.0, q])


def test_distflow_matches_complex_power_flow_on_two_buses():
    p, q, z = 0.6, 0.3, complex(0.02, 0.04)
    v1 = 1.0 + 0j
    for _ in range(200):  # fixed point V1 = V0 - z * conj(S / V1)
        v1 = 1.0 - z * np.conj(complex(p, q) / v1)
    i = np.conj(complex(p, q) / v1)
    s0 = 1.0 * np.conj(i)
    df = distflow(two_bus(p, q), np.array([0.0, p]), np.array([0.0, q]))
    assert df["v"][1] == pytest.approx(abs(v1) ** 2, abs=1e-9)
    assert df["P0"] == pytest.approx(s0.real, abs=1e-9)
    assert df["Q0"] == pytest.approx(s0.imag, abs=1e-9)
    assert df["l"][0] == pytest.approx(abs(i) ** 2, abs=1e-9)


def test_rejects_unordered_buses():
    with pytest.raises(ValueError):
        Network.from_pu(buses=["s", "a", "b"], parent=np.array([0, 2]), r=[1, 1], x=[1, 1],
                      i_max=[1, 1], tap=[1, 1], load_p=[0, 0, 0], load_q=[0, 0, 0])


def test_single_phase_branches_are_scaled_by_three():
    f = feeders.load("ieee123")
    raw = f.network
    net = f.network
    k = next(k for k, ph in enumerate(raw.branch_phases)
             if len(ph) == 1 and raw.branch_kind[k] == "line")
    j = net.bus_index[raw.buses[raw.to_bus[k]]]
    assert net.r_bal_pu[j - 1] == pytest.approx(3 * raw.r_pu()[k], rel=1e-9)
    assert net.x_bal_pu[j - 1] == pytest.approx(3 * raw.x_pu()[k], rel=1e-9)


def test_case33bw_distflow_equals_opendss():
    f = feeders.load("case33bw")
    net = f.network
    df = distflow(net, net.load_p_pu, net.load_q_pu)
    out = opendss_solve(f, {}, {})
    S = net.s_base_kva
    assert df["P0"] * S == pytest.approx(out["pcc_p_kw"], rel=1e-4)
    assert df["Q0"] * S == pytest.approx(out["pcc_q_kvar"], rel=1e-4)
    v = np.sqrt(df["v"])
    err = [abs(v[i] - out["v_bus_pu"][b.lower()]) for i, b in enumerate(net.buses)]
    assert max(err) < 1e-4


def test_ieee123_reduction_error_vs_opendss():
    """Balanced equivalent of the unbalanced ieee123 (documented in feeders.network).

    Measured: mean |dV| ~0.003 pu, max ~0.019 pu (single-phase laterals inherit the phase
    unbalance of their feeding phase, which the equivalent averages out); PCC P ~0.02 %,
    PCC Q ~4 % (line charging is neglected).
    """
    f = feeders.load("ieee123")
    net = f.network
    df = distflow(net, net.load_p_pu, net.load_q_pu)
    out = opendss_solve(f, {}, {})
    S = net.s_base_kva
    v = np.sqrt(df["v"])
    err = np.array([v[i] - out["v_bus_pu"][b.lower()] for i, b in enumerate(net.buses)])
    assert np.mean(np.abs(err)) < 0.005
    assert np.max(np.abs(err)) < 0.025
    assert df["P0"] * S == pytest.approx(out["pcc_p_kw"], rel=0.005)
    assert df["Q0"] * S == pytest.approx(out["pcc_q_kvar"], rel=0.06)
    assert np.sum(net.r_bal_pu * df["l"]) * S == pytest.approx(out["losses_kw"], rel=0.1)
