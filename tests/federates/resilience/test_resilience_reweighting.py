"""Coefficient re-weighting, seed eqs. (2)-(4): sign convention and closed forms."""

import pytest

from federates.resilience.reweighting import (
    Mitigator,
    ReweightConfig,
    flexibility_direction,
    gammas,
    reweight,
    xi_factor,
)

RS = {"a": 1.0, "b": 0.5, "c": 0.5}


def test_attack_raising_import_lowers_alpha_beta_and_raises_xi():
    scheduled, measured = 1000.0, 1600.0  # attack raised the import by 600 kW
    delta = scheduled - measured
    rw = reweight(delta, RS, {a: -1.0 for a in RS}, {a: -1.0 for a in RS}, mu=100.0)
    assert all(g < 1 for g in rw.gamma_alpha.values())
    assert all(g < 1 for g in rw.gamma_beta.values())
    assert rw.xi > 1


def test_gamma_formula_against_hand_computation():
    # Z_a = 1 + 1.0*(-600)(-1)/(100*2) = 4, Z_b = 1 + 0.5*600*0.5/200 = 1.75
    g = gammas(-600.0, RS, {"a": -1.0, "b": -0.5, "c": 0.0}, mu=100.0)
    assert g["a"] == pytest.approx(0.25)
    assert g["b"] == pytest.approx(1 / 1.75)
    assert g["c"] == pytest.approx(1.0)


def test_vector_delta_uses_inner_product():
    g = gammas([-100.0, -50.0], {"a": 1.0}, {"a": [-1.0, -2.0]}, mu=100.0)
    assert g["a"] == pytest.approx(1 / (1 + 200 / 100))


def test_xi_formula_against_hand_computation():
    ga = {"a": 0.25, "b": 0.5}
    gb = {"a": 1.0, "b": 0.25}
    assert xi_factor(ga, gb) == pytest.approx(1 / ((0.25 + 0.5 + 1.0 + 0.25) / 4))


def test_higher_resilience_score_gives_smaller_gamma():
    g = gammas(-300.0, {"hi": 0.9, "lo": 0.2}, {}, mu=50.0)
    assert g["hi"] < g["lo"] < 1.0


def test_no_change_when_delta_is_zero():
    rw = reweight(0.0, RS, {}, {}, mu=10.0)
    assert set(rw.gamma_alpha.values()) == {1.0} and set(rw.gamma_beta.values()) == {1.0}
    assert rw.xi == 1.0


def test_guard_keeps_z_positive():
    g = gammas(1e6, {"a": 1.0}, {"a": -1.0}, mu=1.0, z_min=0.1)
    assert g["a"] == pytest.approx(10.0)


def test_zero_total_score_means_no_reweighting():
    assert gammas(-500.0, {"a": 0.0, "b": 0.0}, {}, mu=1.0) == {"a": 1.0, "b": 1.0}


def test_flexibility_direction_is_normalised_and_non_positive():
    d = flexibility_direction({"a": 40.0, "b": 10.0, "c": 0.0})
    assert d == {"a": -1.0, "b": -0.25, "c": -0.0}
    assert flexibility_direction({"a": 0.0}) == {"a": -1.0}


def test_mitigator_incremental_accumulates_then_holds():
    m = Mitigator(ReweightConfig(mu_kw=100.0, mode="incremental"))
    rs = {"a": 1.0, "b": 1.0}
    m.step(-200.0, rs)  # Z = 1 + 200/200 = 2 for both
    assert m.factor_alpha == {"a": 0.5, "b": 0.5}
    m.step(-200.0, rs)
    assert m.factor_alpha["a"] == pytest.approx(0.25)
    assert m.factor_xi == pytest.approx(4.0)
    m.step(0.0, rs)  # Delta back to zero: factors stay
    assert m.factor_beta["b"] == pytest.approx(0.25)
    msg = m.message(600.0, "test")
    assert msg.relative and msg.xi == pytest.approx(4.0)
    assert {c.agent: c.alpha for c in msg.agents} == {"a": 0.25, "b": 0.25}
    alpha, beta, xi = m.apply({"a": 2.0, "z": 3.0}, {"a": 1.0}, 0.1)
    assert alpha == {"a": 0.5, "z": 3.0} and beta == {"a": 0.25}
    assert xi == pytest.approx(0.4)
    m.reset()
    assert not m.active and m.factor_xi == 1.0


def test_mitigator_one_shot_is_relative_to_baseline():
    m = Mitigator(ReweightConfig(mu_kw=100.0, mode="one_shot"))
    m.step(-200.0, {"a": 1.0})
    m.step(-200.0, {"a": 1.0})
    assert m.factor_alpha["a"] == pytest.approx(1 / 3)  # Z = 1 + 200/100 (single agent)


def test_mitigator_deadband_and_factor_bounds():
    m = Mitigator(ReweightConfig(mu_kw=1.0, deadband_kw=5.0, factor_min=0.1))
    m.step(-4.0, {"a": 1.0})
    assert m.factor_alpha["a"] == 1.0
    for _ in range(5):
        m.step(-1000.0, {"a": 1.0})
    assert m.factor_alpha["a"] == pytest.approx(0.1)


def test_side_keeps_factors_on_one_side_of_one_and_restored():
    m = Mitigator(ReweightConfig(mu_kw=100.0, restore_tol=0.02))
    m.side = 1  # import-raising attack
    m.step(-200.0, {"a": 1.0})
    assert m.factor_alpha["a"] == pytest.approx(1 / 3) and not m.restored()
    m.step(+5000.0, {"a": 1.0})  # attack over: import far below reference
    assert m.factor_alpha["a"] == 1.0 and m.restored()
    m.reset()
    m.side = -1
    m.step(-200.0, {"a": 1.0})
    assert m.factor_alpha["a"] == 1.0
