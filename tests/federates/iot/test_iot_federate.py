"""IoT federate wrapper without a broker: interfaces, autowire, injections, report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from federates.common.weather import builtin
from federates.iot.agents import Coordinator
from federates.iot.config import IotConfig
from federates.iot.federate import IotFederate, build_population, injections
from federates.iot.model import PopulationModel
from federates.messages import InjectionSet
from federates.registry import wrapper_class
from federates.runtime import RuntimeConfig, ScenarioContext

SMALL = {"loads": [{"bus": "1", "nodes": "1", "kw": 40, "kvar": 20},
                   {"bus": "5", "nodes": "1.2.3", "kw": 90, "kvar": 45}],
         "population": {"houses": 20, "waterheater": {"share": 0.5}, "pv": {"count": 5},
                        "battery": {"count": 3}, "ev": {"count": 4}},
         "seed": 3}


def test_registered_kind_and_interfaces_one_endpoint_per_smo():
    assert wrapper_class("iot") is IotFederate
    cfg = IotConfig.model_validate(SMALL)
    itf = IotFederate.interfaces(RuntimeConfig(name="houses"), cfg)
    assert [p.port for p in itf.publications] == ["injections", "summary"]
    assert [p.payload for p in itf.publications] == ["InjectionSet", "PopulationSummary"]
    assert sorted(e.port for e in itf.endpoints) == ["attack", "sp_1", "sp_5"]
    assert itf.subscriptions == []


def test_default_config_is_the_ieee123_der_preset_and_round_trips():
    cfg = IotConfig()
    assert cfg.population.houses == 1008 and cfg.population.waterheater.count == 348
    again = IotConfig.model_validate_json(cfg.model_dump_json())
    assert again == cfg


def test_autowire_fills_feeder_seed_and_peers():
    ctx = ScenarioContext(scenario="s", feeder="ieee123", seed=11, duration_s=3600,
                          period_s=60, output_dir="results/s",
                          federates={"grid": "grid", "houses": "iot", "lem": "market",
                                     "rm": "resilience"})
    cfg = IotFederate.autowire("houses", IotConfig(), ctx)
    assert (cfg.feeder, cfg.seed, cfg.market, cfg.resilience) == (
        "ieee123", 11, "lem/bids", "rm/telemetry")
    assert cfg.grid_state is None
    vv = IotConfig.model_validate({"population": {"preset": "ieee123_der",
                                                  "pv": {"volt_var": True}}})
    assert IotFederate.autowire("houses", vv, ctx).grid_state == "grid/state"
    alone = ctx.model_copy(update={"federates": {"grid": "grid", "houses": "iot"}})
    cfg = IotFederate.autowire("houses", IotConfig(seed=5, feeder="ieee13"), alone)
    assert (cfg.feeder, cfg.seed, cfg.market, cfg.resilience) == ("ieee13", 5, None, None)


def _run(cfg: IotConfig, steps: int, start_h: float = 12.0):
    pop = build_population(cfg)
    m = PopulationModel(pop, builtin("summer"), start_h * 3600)
    c = Coordinator(m, 60.0, 300.0)
    out = []
    for k in range(steps):
        res = m.step(start_h * 3600 + 60.0 * k, 60.0)
        out.append((res, c.summary(res)))
    return pop, out


def test_injections_per_phase_and_per_bus_carry_the_bus_totals():
    cfg = IotConfig.model_validate(SMALL)
    pop, out = _run(cfg, 3)
    res = out[-1][0]
    per_phase = injections(pop, res, "houses", True, 120.0)
    assert [(i.bus, i.phases) for i in per_phase.items] == [
        ("1", [1]), ("5", [1]), ("5", [2]), ("5", [3])]
    per_bus = injections(pop, res, "houses", False, 120.0)
    assert [(i.bus, i.phases) for i in per_bus.items] == [("1", [1]), ("5", [1, 2, 3])]
    total = sum(i.p_kw for i in per_phase.items)
    assert total == pytest.approx(sum(i.p_kw for i in per_bus.items))
    assert total == pytest.approx(res.house_kw.sum() + pop.residual_kw.sum())
    assert InjectionSet.from_wire(per_phase.to_wire()) == per_phase


def test_summary_and_report_metrics_and_plots(tmp_path):
    cfg = IotConfig.model_validate(SMALL)
    pop, out = _run(cfg, 90)
    s = out[-1][1]
    assert set(s.load_kw) == {"hvac", "waterheater", "pv", "battery", "ev", "base", "residual"}
    assert s.total_kw == pytest.approx(sum(s.load_kw.values()))
    assert s.temp_c["p5"] <= s.temp_c["p50"] <= s.temp_c["p95"]
    rows = [(60.0 * k, f"houses.{sig}", ident, v)
            for k, (_, summ) in enumerate(out) for sig, ident, v in summ.rows()]
    ts = pd.DataFrame(rows, columns=["time", "signal", "id", "value"])
    metrics = IotFederate.report("houses", cfg, ts, tmp_path / "plots")
    assert metrics["recorded"]
    energy = metrics["energy_kwh_by_type"]
    hvac_kwh = sum(r.hvac_kw.sum() for r, _ in out) / 60.0
    assert energy["hvac"] == pytest.approx(hvac_kwh)
    assert energy["pv"] <= 0 and metrics["comfort_violation_house_steps"] >= 0
    assert sorted(metrics["plots"]) == ["houses_battery_soc.png", "houses_indoor_temperature.png",
                                        "houses_load_by_type.png"]
    assert all((tmp_path / "plots" / p).stat().st_size > 1000 for p in metrics["plots"])
    assert IotFederate.report("other", cfg, ts, tmp_path / "p2") == {"recorded": False}


def test_population_is_deterministic_through_the_config():
    a = build_population(IotConfig.model_validate(SMALL))
    b = build_population(IotConfig.model_validate(SMALL))
    np.testing.assert_array_equal(a.house.etp.ua, b.house.etp.ua)
    np.testing.assert_array_equal(a.pv_house, b.pv_house)


def test_volt_var_pv_follows_grid_voltage():
    cfg = IotConfig.model_validate({**SMALL, "population": {
        **SMALL["population"], "pv": {"count": 5, "volt_var": True}}})
    pop = build_population(cfg)
    m = PopulationModel(pop, builtin("summer"), 12 * 3600)
    m.v_pu = np.full(len(pop.bus_phases), 1.07)
    high = m.step(12 * 3600, 60.0)
    m.v_pu = np.full(len(pop.bus_phases), 0.93)
    low = m.step(12 * 3600 + 60, 60.0)
    assert np.all(high.pv_kvar > 0) and np.all(low.pv_kvar < 0)  # absorb high, inject low
    assert np.all(np.hypot(high.pv_kw, high.pv_kvar) <= pop.pv.s_rated_kva + 1e-9)
