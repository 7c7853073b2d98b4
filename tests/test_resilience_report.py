"""Report windows and derived metrics from a synthetic long-format series."""

import pandas as pd
import pytest

from federates.resilience.config import ResilienceConfig
from federates.resilience.report import markdown, resilience_metrics, resilience_report

STEP = 60.0


def series() -> pd.DataFrame:
    rows = []

    def add(t, signal, value, ident=""):
        rows.append((t, signal, ident, float(value)))

    for k in range(121):  # 2 h
        t = k * STEP
        attacked = 1800 <= t < 5400
        mitigated = t >= 2700 and attacked
        p = 1000 + (100 if attacked and not mitigated else 0) + (10 if mitigated else 0)
        add(t, "grid.pcc_p_kw", p)
        add(t, "grid.v_min_pu", 0.96 if attacked else 0.97)
        add(t, "grid.v_max_pu", 1.04)
        add(t, "grid.ansi_a_violations", 0)
        add(t, "grid.bus_p_kw", 700, "1")
        add(t, "grid.bus_p_kw", 800 - (50 if mitigated else 0), "2")
        add(t, "rm.measured_kw", p)
        add(t, "rm.detected", 1860 <= t < 5520)
        add(t, "rm.updates", 0 if t < 1860 else 1 + (t >= 2760) * 1)
        add(t, "attacker.active", attacked)
        add(t, "houses.hvac_on_fraction", 0.5)
        add(t, "houses.load_kw", 300 - (50 if mitigated else 0), "hvac")
        add(t, "houses.load_kw", -(200 if not attacked else 100) - (40 if mitigated else 0),
            "pv")
        add(t, "houses.load_kw", 0, "battery")
        if t % 900 == 0:
            add(t, "market.period_start", t)
            add(t, "market.total_cost", 10 + mitigated * 3)
        add(t, "rm.scores.resilience", 0.1 if attacked else 1.0, "d")
        add(t, "rm.scores.resilience", 1.0, "a")
    return pd.DataFrame(rows, columns=["time", "signal", "id", "value"])


CONFIG = ResilienceConfig(pcc_key="grid/pcc_power", schedule_key="market/pcc_schedule")


def test_windows_and_times():
    m = resilience_metrics("rm", CONFIG, series())
    assert (m["attack_start_s"], m["attack_end_s"]) == (1800.0, 5400.0)
    assert m["detection_time_s"] == 1860.0 and m["detection_delay_s"] == 60.0
    assert m["first_update_s"] == 1860.0
    w = m["windows"]
    assert (w["pre_attack"]["from_s"], w["pre_attack"]["to_s"]) == (900.0, 1800.0)
    # the first market period after the first update starts at 2700 s
    assert (w["post_attack"]["from_s"], w["post_attack"]["to_s"]) == (1800.0, 2700.0)
    assert (w["mitigated"]["from_s"], w["mitigated"]["to_s"]) == (4500.0, 5400.0)
    assert w["pre_attack"]["pcc_import_kw"] == 1000.0
    assert w["post_attack"]["pcc_import_kw"] == 1100.0
    assert w["mitigated"]["pcc_import_kw"] == 1010.0
    assert m["post_attack_import_change_kw"] == 100.0
    assert m["mitigated_import_change_kw"] == 10.0
    assert w["mitigated"]["total_load_kw"] == 1450.0
    assert w["mitigated"]["total_cost"] == 13.0
    assert w["post_attack"]["v_min_pu"] == 0.96
    assert m["time_to_restore_s"] == 900.0  # within 2 % from 2700 s on
    assert m["upward_generation_kw"] == pytest.approx(40.0)
    assert m["flexible_load_curtailed_kw"] == pytest.approx(50.0)


def test_report_writes_plot_and_final_scores(tmp_path):
    plots = tmp_path / "plots"
    plots.mkdir()
    m = resilience_report("rm", CONFIG.model_copy(update={"feeder": "ieee123"}), series(), plots)
    for name in ("rm_pcc_attack.png", "rm_feeder_map.png"):
        assert (plots / name).stat().st_size > 0
    assert "Pre-attack" in (tmp_path / "rm_attack_report.md").read_text()
    assert m["final_resilience_scores"] == {"a": 1.0, "d": 1.0}


def test_no_attack_recorded_gives_empty_windows():
    ts = series()
    ts = ts[~ts.signal.isin(["attacker.active", "rm.detected"])]
    m = resilience_metrics("rm", CONFIG, ts)
    assert m["attack_start_s"] is None and "windows" not in m


def test_markdown_table_has_the_three_windows():
    m = resilience_metrics("rm", CONFIG, series())
    text = markdown("rm", m)
    assert "| PCC import [kW] | 1,000.0 | 1,100.0 (+10.0%) | 1,010.0 (+1.0%) |" in text
    assert "| ANSI A violations [node-steps] | 0 | 0 | 0 |" in text
    assert "- Detection time [s]: 1860.0" in text
    assert "No attack" in markdown("rm", {})
