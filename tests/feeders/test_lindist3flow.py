"""LinDist3Flow against closed-form answers and against OpenDSS (same injections, locked taps).

Tiny hand-made feeders are written as tables here, so both the linear model and OpenDSS
build from the same data; the IEEE feeders come from ``feeders.load``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import feeders
from feeders.catalog import Feeder
from feeders.lindist3flow import LinDist3Flow, delta_to_phases
from feeders.lindist3flow_check import (
    OpenDssReference,
    Scenario,
    compare,
    model_injections,
    random_scenarios,
)
from feeders.tables import SCHEMAS, FeederTables

KV_LN = 4.16 / np.sqrt(3.0)


def _frame(table: str, rows: list[dict]) -> pd.DataFrame:
    schema = SCHEMAS[table]
    df = pd.DataFrame(rows, columns=list(schema))
    for col, typ in schema.items():
        if typ == "str":
            df[col] = df[col].fillna("").astype(str)
        else:
            df[col] = df[col].fillna(0 if typ == "int64" else np.nan).astype(typ)
    return df


def _line(name: str, bus1: str, bus2: str, nodes: str, phases: int, r1: float, x1: float,
          r0: float, x0: float, km: float) -> dict:
    return {"name": name, "bus1": bus1, "bus2": bus2, "nodes": nodes, "phases": phases,
            "linecode": "", "length": km, "units": "km", "r1": r1, "x1": x1, "r0": r0,
            "x0": x0, "c1": 0.0, "c0": 0.0, "switch": 0, "enabled": 1, "normally_open": 0}


def _load(name: str, bus: str, nodes: str, phases: int, conn: str, kw: float,
          kvar: float) -> dict:
    kv = KV_LN if conn == "wye" and phases == 1 else 4.16
    return {"name": name, "bus": bus, "nodes": nodes, "phases": phases, "conn": conn,
            "model": 1, "kv": kv, "kw": kw, "kvar": kvar}


def tiny_feeder(lines: list[dict], loads: list[dict], regulator_bus: str | None = None,
                tap_step: float = 0.00625, tap: int = 0,
                capacitors: list[dict] | None = None) -> Feeder:
    """A 4.16 kV feeder from a stiff 1.0 pu source at ``s``; optionally a bank of three
    single-phase regulators from ``s`` to ``regulator_bus`` (all at ``tap`` steps)."""
    buses = {"s"} | {ln[k] for ln in lines for k in ("bus1", "bus2")}
    xfs, regs = [], []
    if regulator_bus:
        buses.add(regulator_bus)
        for ph in (1, 2, 3):
            xfs.append({"name": f"reg{ph}", "phases": 1, "bus1": "s", "nodes1": str(ph),
                        "bus2": regulator_bus, "nodes2": str(ph), "conn1": "wye",
                        "conn2": "wye", "kv1": KV_LN, "kv2": KV_LN, "kva": 5000.0,
                        "xhl": 0.001, "pct_r": 0.0005, "ppm": 0.0, "bank": "reg"})
            regs.append({"name": f"creg{ph}", "transformer": f"reg{ph}", "winding": 2,
                         "vreg": 120.0, "band": 2.0, "ptratio": 20.0, "ctprim": 700.0,
                         "r": 0.0, "x": 0.0, "published_tap": tap})
    meta = {"name": "tiny", "description": "hand-made test feeder", "kind": "test",
            "circuit": "tiny", "base_kv_ll": 4.16, "frequency_hz": 60.0, "source_bus": "s",
            "source": {"basekv": 4.16, "pu": 1.0, "angle": 0.0, "r1": 0.0, "x1": 1e-6,
                       "r0": 0.0, "x0": 1e-6},
            "voltage_bases_kv": [4.16], "s_base_kva": 1000.0, "pcc_element": "Line.l1",
            "tap_step": tap_step}
    tables = FeederTables(
        meta=meta,
        buses=_frame("buses", [{"bus": b, "base_kv_ll": 4.16} for b in sorted(buses)]),
        linecodes=_frame("linecodes", []),
        lines=_frame("lines", lines),
        transformers=_frame("transformers", xfs),
        regulators=_frame("regulators", regs),
        capacitors=_frame("capacitors", capacitors or []),
        loads=_frame("loads", loads),
    )
    return Feeder(tables)


def nominal(model: LinDist3Flow) -> Scenario:
    n = len(model.node_phases)
    return Scenario(np.ones(len(model.feeder.tables.loads)), np.zeros(n), np.zeros(n))


def index(model: LinDist3Flow, bus: str, phase: int) -> int:
    return model.node_index[(bus, phase)]


def flow(model: LinDist3Flow, branch: str, phase: int) -> int:
    k = model.network.branch_names.index(branch)
    return model.branch_phase_index[(k, phase)]


# -- closed form ---------------------------------------------------------------------------
def test_balanced_line_is_the_lindistflow_voltage_drop() -> None:
    """One balanced line, balanced wye load: per phase ``v2 = v1 - 2 (r1 P + x1 Q) / V^2``
    with the positive-sequence impedance (the mutual terms cancel through the rotation)."""
    r1, x1, r0, x0, km = 0.3, 0.6, 0.9, 1.8, 0.7
    p_ph, q_ph = 300.0, 120.0
    f = tiny_feeder([_line("l1", "s", "b", "", 3, r1, x1, r0, x0, km)],
                    [_load(f"ld{ph}", "b", str(ph), 1, "wye", p_ph, q_ph) for ph in (1, 2, 3)])
    m = LinDist3Flow(f)
    sol = m.solve(*m.load_injections())
    drop = 2.0 * (r1 * km * p_ph + x1 * km * q_ph) / (1000.0 * KV_LN**2)
    for ph in (1, 2, 3):
        assert sol.v_sq[index(m, "b", ph)] == pytest.approx(1.0 - drop, abs=1e-12)
        assert sol.p_kw[flow(m, "l1", ph)] == pytest.approx(p_ph)
        assert sol.q_kvar[flow(m, "l1", ph)] == pytest.approx(q_ph)
        assert m.v_from_p[index(m, "b", ph), index(m, "b", ph)] == pytest.approx(
            -2.0 * (r1 + (r0 - r1) / 3.0) * km / (1000.0 * KV_LN**2))
    ref = OpenDssReference(m).solve(nominal(m))
    assert np.abs(sol.v_pu - ref.v_pu).max() < 2e-3


def test_single_phase_lateral_matches_closed_form_and_opendss() -> None:
    """A phase-b lateral: its drop uses its self impedance only; upstream, only phase b
    carries its load, and the other phases see it through the rotated mutual impedance."""
    r1, x1, r0, x0 = 0.3, 0.6, 0.9, 1.8
    zs = complex(r1 + (r0 - r1) / 3, x1 + (x0 - x1) / 3)
    zm = complex((r0 - r1) / 3, (x0 - x1) / 3)
    p, q, km2 = 60.0, 25.0, 0.8
    f = tiny_feeder([_line("l1", "s", "b", "", 3, r1, x1, r0, x0, 1.0),
                     _line("l2", "b", "c", "2", 1, r1, x1, r0, x0, km2)],
                    [_load("lat", "c", "2", 1, "wye", p, q)])
    m = LinDist3Flow(f)
    assert [ph for bus, ph in m.node_phases if bus == "c"] == [2]
    sol = m.solve(*m.load_injections())
    scale = 1000.0 * KV_LN**2
    s = complex(p, q)
    v_b2 = 1.0 - 2.0 * (zs.conjugate() * s).real / scale
    # phase a sees phase b's flow through a_a / a_b = e^{+j120}, phase c through e^{-j120}
    v_b1 = 1.0 - 2.0 * (np.exp(2j * np.pi / 3) * zm.conjugate() * s).real / scale
    v_b3 = 1.0 - 2.0 * (np.exp(-2j * np.pi / 3) * zm.conjugate() * s).real / scale
    z1 = complex(r1, x1)  # OpenDSS: a 1-phase line given by sequence data has z1 as self
    v_c2 = v_b2 - 2.0 * (z1.conjugate() * km2 * s).real / scale
    for (bus, ph), expect in {("b", 1): v_b1, ("b", 2): v_b2, ("b", 3): v_b3,
                              ("c", 2): v_c2}.items():
        assert sol.v_sq[index(m, bus, ph)] == pytest.approx(expect, abs=1e-12)
    assert sol.p_kw[flow(m, "l1", 1)] == 0.0 and sol.p_kw[flow(m, "l1", 2)] == p
    ref = OpenDssReference(m).solve(nominal(m))
    assert np.abs(sol.v_pu - ref.v_pu).max() < 2e-3
    assert np.abs(sol.p_kw - ref.p_kw).max() < 0.01 * p


def test_delta_load_becomes_rotated_phase_injections() -> None:
    """A load between phases a and b is ``S e^{-j30}/sqrt3`` on a and ``S e^{+j30}/sqrt3``
    on b (balanced voltages); OpenDSS with the delta load agrees per phase, an equal split
    does not."""
    s = complex(300.0, 100.0)
    split = delta_to_phases((1, 2), s)
    assert split[1] == pytest.approx(s * np.exp(-1j * np.pi / 6) / np.sqrt(3))
    assert split[2] == pytest.approx(s * np.exp(1j * np.pi / 6) / np.sqrt(3))
    assert sum(delta_to_phases((3, 1), s).values()) == pytest.approx(s)
    f = tiny_feeder([_line("l1", "s", "b", "", 3, 0.1, 0.2, 0.3, 0.6, 1.0)],
                    [_load("dab", "b", "1.2", 1, "delta", s.real, s.imag),
                     _load("d3", "b", "", 3, "delta", 600.0, 250.0)])
    m = LinDist3Flow(f)
    sol = m.solve(*m.load_injections())
    ref = OpenDssReference(m).solve(nominal(m))
    for ph in (1, 2, 3):
        k = flow(m, "l1", ph)
        assert abs(sol.p_kw[k] - ref.p_kw[k]) < 0.02 * abs(s)  # OpenDSS includes the losses
        assert abs(sol.q_kvar[k] - ref.q_kvar[k]) < 0.02 * abs(s)
    k1 = flow(m, "l1", 1)
    equal_split_q = ref.q_kvar[k1] - (s.imag / 2 + 250.0 / 3)
    assert abs(equal_split_q) > 0.2 * abs(s)  # the rotation matters: S/(2 sqrt 3) off
    assert np.abs(sol.v_pu - ref.v_pu).max() < 2e-3


def test_capacitor_as_impedance_raises_the_voltage_it_sees() -> None:
    """A 3-phase capacitor alone at the end of a line: as a constant impedance it injects
    ``Qr v`` so ``v = 1 + 2 x1 Qr v / V^2``, i.e. ``v = 1 / (1 - 2 x1 Qr / V^2)``; as a
    fixed injection ``v = 1 + 2 x1 Qr / V^2``. OpenDSS sides with the impedance."""
    x1, km, qr = 0.6, 1.0, 450.0
    cap = {"name": "c1", "bus": "b", "nodes": "", "phases": 3, "kvar": qr, "kv": 4.16}
    f = tiny_feeder([_line("l1", "s", "b", "", 3, 0.3, x1, 0.9, 1.8, km)], [],
                    capacitors=[cap])
    k = 2.0 * x1 * km * (qr / 3) / (1000.0 * KV_LN**2)
    imp = LinDist3Flow(f)
    fixed = LinDist3Flow(f, shunts="fixed")
    zero = np.zeros(len(imp.node_phases))
    v_imp, v_fixed = imp.solve(zero, zero), fixed.solve(zero, zero)
    assert v_imp.v_sq[index(imp, "b", 1)] == pytest.approx(1.0 / (1.0 - k), abs=1e-12)
    assert v_fixed.v_sq[index(fixed, "b", 1)] == pytest.approx(1.0 + k, abs=1e-12)
    assert v_imp.q_kvar[flow(imp, "l1", 2)] == pytest.approx(-qr / 3 / (1.0 - k))
    assert imp.v_const == pytest.approx(v_imp.v_sq)
    ref = OpenDssReference(imp).solve(nominal(imp))
    assert np.abs(v_imp.v_pu - ref.v_pu).max() < 1e-3
    assert np.abs(v_imp.v_pu - ref.v_pu).max() < 0.5 * np.abs(v_fixed.v_pu - ref.v_pu).max()


def test_array_form_is_what_solve_evaluates() -> None:
    m = LinDist3Flow(feeders.load("ieee13"))
    rng = np.random.default_rng(3)
    p, q = m.load_injections(rng.uniform(0.5, 1.5, len(m.feeder.tables.loads)))
    sol = m.solve(p, q)
    assert m.v_const + m.v_from_p @ p + m.v_from_q @ q == pytest.approx(sol.v_sq)
    assert m.p_flow_const + m.p_flow_from_p @ p + m.p_flow_from_q @ q == pytest.approx(sol.p_kw)
    assert m.q_flow_const + m.q_flow_from_p @ p + m.q_flow_from_q @ q == pytest.approx(
        sol.q_kvar)


@pytest.mark.parametrize("tap_step", [0.00625, 0.01])
def test_locked_tap_scales_downstream_voltage_by_its_ratio(tap_step: float) -> None:
    """At no load a tap of ``n`` steps multiplies the downstream voltage by ``1 + n step``
    (the step is the feeder's); with load, OpenDSS with the same locked tap agrees."""
    lines = [_line("l1", "r", "b", "", 3, 0.2, 0.4, 0.6, 1.2, 1.0)]
    loads = [_load(f"ld{ph}", "b", str(ph), 1, "wye", 150.0 * ph, 50.0) for ph in (1, 2, 3)]
    f = tiny_feeder(lines, loads, regulator_bus="r", tap_step=tap_step)
    zero = np.zeros(len(LinDist3Flow(f).node_phases))
    for steps in (-4, 0, 10):
        m = LinDist3Flow(f, taps={"reg1": steps, "reg2": steps, "REG3": steps})
        v = m.solve(zero, zero).v_pu
        assert v[index(m, "b", 2)] == pytest.approx(1.0 + steps * tap_step, abs=1e-9)
        sol = m.solve(*m.load_injections())
        ref = OpenDssReference(m).solve(nominal(m))
        assert np.abs(sol.v_pu - ref.v_pu).max() < 3e-3
    with pytest.raises(ValueError, match="unknown regulator"):
        LinDist3Flow(f, taps={"nope": 1})


def test_ieee13_taps_follow_the_catalog_step() -> None:
    f = feeders.load("ieee13")
    m = LinDist3Flow(f, taps={"reg1": 16, "reg2": 0, "reg3": -8})
    k = m.network.branch_names.index("reg1+reg2+reg3")
    assert m.tap_ratio[k] == pytest.approx([1 + 16 * f.tap_step, 1.0, 1 - 8 * f.tap_step])


def test_solve_rejects_wrong_shapes() -> None:
    m = LinDist3Flow(feeders.load("ieee13"))
    with pytest.raises(ValueError, match="one per node-phase"):
        m.solve(np.zeros(3), np.zeros(3))


# -- against OpenDSS on the IEEE feeders ----------------------------------------------------
def test_ieee13_random_injections_against_opendss() -> None:
    """20 seeded load/PV scenarios. The bounds sit above the measured 100-sample errors
    (docs/benchmarks.md: max 0.017 pu, mean 0.0027 pu) and far below what a wrong sign or
    a missing coupling gives; the second-order corrections must help."""
    m = LinDist3Flow(feeders.load("ieee13"))
    ref = OpenDssReference(m)
    got = compare(m, ref, random_scenarios(m, 20, seed=11))
    assert got["v_max_err_pu"] < 0.03
    assert got["v_mean_err_pu"] < 0.006
    assert got["p_max_err_rel"] < 0.1
    assert got["theta_max_err_deg"] < 1.0  # includes the substation's -30 degree shift
    with_losses = compare(m, ref, random_scenarios(m, 20, seed=11), loss_passes=2)
    assert with_losses["v_mean_err_pu"] < got["v_mean_err_pu"]
    assert with_losses["p_max_err_kw"] < got["p_max_err_kw"]


class SelfImpedanceOnly(LinDist3Flow):
    """The model with the mutual impedances dropped."""

    def _impedance(self, k: int) -> np.ndarray:
        return np.diag(np.diag(super()._impedance(k)))


def test_ieee13_without_mutual_coupling_is_worse() -> None:
    """The rotated mutual terms carry real information: dropping them (diagonal Z) makes
    the nominal-load voltages clearly worse against OpenDSS."""
    f = feeders.load("ieee13")
    m = LinDist3Flow(f)
    ref = OpenDssReference(m)
    sc = nominal(m)
    err = np.abs(m.solve(*model_injections(m, sc)).v_pu - ref.solve(sc).v_pu).max()
    diag = SelfImpedanceOnly(f)
    err_diag = np.abs(diag.solve(*model_injections(diag, sc)).v_pu - ref.solve(sc).v_pu).max()
    assert err < 0.01
    assert err_diag > 2 * err


def test_ieee123_samples_against_opendss() -> None:
    m = LinDist3Flow(feeders.load("ieee123"))
    got = compare(m, OpenDssReference(m), random_scenarios(m, 5, seed=5))
    assert got["v_max_err_pu"] < 0.01  # 0.014 at bus 610 without the delta-delta coupling
    assert got["v_mean_err_pu"] < 0.003
    assert got["p_max_err_rel"] < 0.06
    assert got["theta_max_err_deg"] < 1.0


def test_linearized_losses_are_a_first_order_expansion() -> None:
    """``losses="linearized"`` is the tangent of the loss-corrected model at nominal load:
    its gap to ``solve_with_losses`` shrinks with the square of the distance (an error in
    the derivatives would leave a first-order gap)."""
    m = LinDist3Flow(feeders.load("ieee13"), losses="linearized")

    def gap(scale: float) -> float:
        p, q = m.load_injections(scale)
        return float(np.abs(m.solve(p, q).v_sq - m.solve_with_losses(p, q, 12).v_sq).max())

    assert gap(1.0) < 1e-6
    assert gap(1.01) < gap(1.1) / 30.0
    assert gap(0.99) < gap(0.9) / 30.0


def test_ieee123_with_linearized_losses_meets_half_a_percent() -> None:
    m = LinDist3Flow(feeders.load("ieee123"), losses="linearized")
    got = compare(m, OpenDssReference(m), random_scenarios(m, 5, seed=5))
    assert got["v_max_err_pu"] < 0.005
    assert got["p_max_err_rel"] < 0.02


def test_head_flow_is_the_sum_of_injections_per_phase() -> None:
    m = LinDist3Flow(feeders.load("ieee123"), line_charging=False, shunts="fixed")
    p, q = m.load_injections(0.8)
    sol = m.solve(p, q)
    for ph in (1, 2, 3):
        mask = np.array([pp == ph for _, pp in m.node_phases])
        head = flow(m, m.network.branch_names[0], ph)
        assert sol.p_kw[head] == pytest.approx(p[mask].sum())
        assert sol.q_kvar[head] == pytest.approx(q[mask].sum() + m.q_shunt_kvar[mask].sum())


def test_references_recompile_when_another_circuit_was_loaded() -> None:
    """OpenDSS keeps one circuit per process: a reference built before another must still
    solve its own feeder."""
    m13 = LinDist3Flow(feeders.load("ieee13"))
    first = OpenDssReference(m13)
    sc = nominal(m13)
    alone = first.solve(sc)
    f = tiny_feeder([_line("l1", "s", "b", "", 3, 0.1, 0.2, 0.3, 0.6, 1.0)],
                    [_load("ld", "b", "1", 1, "wye", 50.0, 10.0)])
    OpenDssReference(LinDist3Flow(f)).solve(nominal(LinDist3Flow(f)))
    again = first.solve(sc)
    assert again.v_pu == pytest.approx(alone.v_pu)
    assert again.p_kw == pytest.approx(alone.p_kw)
