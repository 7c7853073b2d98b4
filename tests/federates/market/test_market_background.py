"""Measured background load: a silent SMO's bus keeps the background it last reported."""

from __future__ import annotations

import numpy as np
import pytest

from federates.market.config import MarketConfig
from federates.market.operator import MarketOperator
from federates.messages import GridState, Response


def _grid(t: float, bus_p_kw: dict[str, float]) -> GridState:
    return GridState(time=t, converged=True, pcc_p_kw=0, pcc_q_kvar=0, losses_kw=0,
                     losses_kvar=0, v_min_pu=1, v_max_pu=1, ansi_a_violations=0,
                     ansi_b_violations=0, node_names=[], v_pu=[], line_names=[],
                     line_loading_pct=[], tap_names=[], taps=[], bus_p_kw=bus_p_kw)


def _respond(op: MarketOperator, t: float, achieved: dict[str, float]) -> None:
    for smo, kw in achieved.items():
        op.on_response(Response(time=t, smo=smo, scheduled_kw=kw, achieved_kw=kw))


@pytest.fixture(scope="module")
def op() -> MarketOperator:
    return MarketOperator(MarketConfig(feeder="ieee123", background_load="measured"))


def test_silent_smo_keeps_its_last_background_responding_smo_follows(op):
    a, b = op.smos[0], op.smos[1]
    ja, jb = op.smo_bus[0], op.smo_bus[1]
    op.on_grid(_grid(0, {a: 100.0, b: 50.0}))
    _respond(op, 0, {a: 80.0, b: 40.0})
    p, q = op.background()
    assert (p[ja], p[jb]) == pytest.approx((20.0, 10.0))
    np.testing.assert_allclose(q, p * op.pf_ratio)
    # b's link is cut and its bus draws 20 kW more (an attack): a's change is explained by
    # its response, b's is not and stays out of the background
    op.on_grid(_grid(300, {a: 130.0, b: 70.0}))
    _respond(op, 300, {a: 100.0})
    p, _ = op.background()
    assert (p[ja], p[jb]) == pytest.approx((30.0, 10.0))
    # b reports again: its background follows the measurement again
    op.on_grid(_grid(600, {a: 130.0, b: 60.0}))
    _respond(op, 600, {a: 100.0, b: 45.0})
    p, _ = op.background()
    assert (p[ja], p[jb]) == pytest.approx((30.0, 15.0))


def test_measured_mode_attributes_a_silent_smo_change_to_the_background():
    """An island's market (`silent_background: measured`) counts every kW at the bus."""
    op = MarketOperator(MarketConfig(feeder="ieee123", background_load="measured",
                                     silent_background="measured"))
    a = op.smos[0]
    ja = op.smo_bus[0]
    op.on_grid(_grid(0, {a: 100.0}))
    _respond(op, 0, {a: 80.0})
    assert op.background()[0][ja] == pytest.approx(20.0)
    op.on_grid(_grid(300, {a: 120.0}))  # silent now, and no bid to fall back on
    assert op.background()[0][ja] == pytest.approx(120.0)
