"""Per-step fast path of the grid model: injection loads are written only when they change,
through the C-API setters, and the published state does not depend on that."""

import numpy as np
import opendssdirect as dss
import pytest

from federates.grid.config import GridConfig
from federates.grid.federate import build_model
from federates.grid.model import GridModel
from federates.messages import Injection


def model(feeder: str = "case33bw") -> GridModel:
    return build_model(GridConfig.model_validate({"feeder": feeder}))


def engine_load(name: str) -> tuple[float, float]:
    """(kW, kvar) of an injection load as OpenDSS holds it (before LoadMult)."""
    dss.Loads.Name(f"gridfed_inj_{name}")
    return dss.Loads.kW(), dss.Loads.kvar()


def test_engine_holds_requested_power_over_the_multiplier_at_every_step():
    m = model()
    m.step(0.0, 0.5, {"a": [Injection(bus="18", p_kw=-100.0, q_kvar=10.0)]})
    assert engine_load("18") == (-100.0 / 0.5, 10.0 / 0.5)
    m.step(60.0, 0.8, {"a": [Injection(bus="18", p_kw=-100.0, q_kvar=10.0)]})  # same request
    assert engine_load("18") == (-100.0 * (1.0 / 0.8), 10.0 * (1.0 / 0.8))
    m.step(120.0, 0.8, {"a": [Injection(bus="12", p_kw=5.0)]})  # bus 18 back to zero
    assert engine_load("18") == (0.0, 0.0)
    assert engine_load("12") == (5.0 * (1.0 / 0.8), 0.0)


def run(steps: list[dict[str, list[Injection]]], rewrite_all: bool) -> list[str]:
    m = model()
    states = []
    for k, sources in enumerate(steps):
        if rewrite_all:
            m._inj_written[:] = np.nan  # forget what OpenDSS holds: every load is written
        states.append(m.step(60.0 * k, 1.0 if k < 3 else 0.7, sources).to_wire())
    return states


def test_skipping_unchanged_loads_gives_the_states_of_rewriting_them_all():
    a = [Injection(bus="18", p_kw=-150.0, q_kvar=5.0)]
    b = [Injection(bus="25", p_kw=30.0, phases=[1, 2, 3]), Injection(bus="12", p_kw=0.0)]
    steps = [{"a": a}, {"a": a, "b": b}, {"a": a, "b": b}, {"a": a, "b": b}, {"b": b}, {}]
    assert run(steps, rewrite_all=False) == run(steps, rewrite_all=True)


def test_bus_power_sums_sources_and_phases_in_first_mention_order():
    m = build_model(GridConfig.model_validate({"feeder": "ieee123",
                                               "baseline": {"shape": "none"}}))
    state = m.step(0.0, 1.0, {
        "a": [Injection(bus="21", p_kw=1.0, phases=[1]), Injection(bus="18", p_kw=2.0)],
        "b": [Injection(bus="21", p_kw=0.5, phases=[2]),
              Injection(bus="21", p_kw=0.25, phases=[1])],
    })  # buses without spot loads come after the (zeroed) baseline buses
    assert list(state.bus_p_kw.items())[-2:] == [("21", 1.75), ("18", 2.0)]
    state = m.step(60.0, 1.0, {"a": [Injection(bus="18", p_kw=3.0)]})
    assert list(state.bus_p_kw.items())[-2:] == [("18", 3.0), ("21", 0.0)]


def test_unknown_bus_is_rejected_and_leaves_the_last_injections():
    m = model()
    m.step(0.0, 1.0, {"a": [Injection(bus="18", p_kw=-50.0)]})
    with pytest.raises(KeyError):
        m.step(60.0, 1.0, {"a": [Injection(bus="18", p_kw=-10.0), Injection(bus="12", p_kw=1.0),
                                 Injection(bus="nope", p_kw=1.0)]})
    assert engine_load("18") == (-50.0, 0.0)
    assert m.solve()  # loads created before the failure hold nothing
