"""Report windows and derived metrics from a synthetic long-format series."""

import pandas as pd
import pytest

from federates.resilience.config import ResilienceConfig
from federates.resilience.report import markdown, resilience_metrics, resilience_report
from federates.resilience.targets import TargetConfig

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


# ---------------------------------------------------------------------- references, targets
def with_market(ts: pd.DataFrame, drop_before_primary: float = 0.0) -> pd.DataFrame:
    """Add a market: primary clearings every 900 s, secondary-only ones every 300 s between
    them; from 2100 s on (after the first secondary-only clearing of the attack) the import
    is lowered by `drop_before_primary` until the primary re-dispatch at 2700 s."""
    rows = []
    for t in sorted(ts["time"].unique()):
        if t % 900 == 0:
            rows += [(t, "market.primary.p_kw", s, v) for s, v in (("a", 50.0), ("d", 60.0))]
            rows += [(t, "market.primary.p0_kw", s, 55.0) for s in ("a", "d")]
        if t % 300 == 0:
            rows += [(t, "market.secondary.p_kw", s, v) for s, v in (("a", 50.0), ("d", 60.0))]
    out = pd.concat([ts, pd.DataFrame(rows, columns=ts.columns)], ignore_index=True)
    lower = out["signal"].isin(["grid.pcc_p_kw", "rm.measured_kw"]) & \
        (out["time"] >= 2100) & (out["time"] < 2700)
    out.loc[lower, "value"] -= drop_before_primary
    return out


def no_attack_run(drift_kw: float) -> pd.DataFrame:
    """The attack-free counterfactual: 1000 kW before the attack, then drifting."""
    rows = [(k * STEP, "grid.pcc_p_kw", "", 1000.0 + (drift_kw if k * STEP >= 1800 else 0.0))
            for k in range(121)]
    rows += [(k * STEP, "houses.load_kw", "pv", -200.0) for k in range(121)]
    return pd.DataFrame(rows, columns=["time", "signal", "id", "value"])


def targeted(**targets) -> ResilienceConfig:
    return CONFIG.model_copy(update={"targets": TargetConfig(**targets)})


def lines(m: dict) -> dict[str, bool]:
    return {t["target"]: t["pass"] for t in m["targets"]}


def test_references_are_the_pre_attack_mean_and_the_no_attack_run():
    m = resilience_metrics("rm", CONFIG, series())
    assert set(m["references"]) == {"pre_attack"}  # no counterfactual in the folder
    pre = m["references"]["pre_attack"]
    assert pre["mitigated_reference_kw"] == 1000.0
    assert (pre["mitigated_change_kw"], pre["mitigated_change_pct"]) == (10.0, 1.0)
    assert pre["post_change_kw"] == 100.0
    # detection at 1860 s: the first period a coefficient update reaches starts at 2700 s,
    # and the 1,010 kW from there on are within 2 % of 1,000 kW
    assert (pre["restore_time_s"], pre["restore_periods"]) == (900.0, 1)
    # the no-attack run drifted up by 30 kW: against it the mitigated import is 2 % low
    m = resilience_metrics("rm", CONFIG, series(), no_attack=no_attack_run(30.0))
    na = m["references"]["no_attack"]
    assert na["mitigated_reference_kw"] == 1030.0
    assert na["mitigated_change_kw"] == -20.0
    assert na["mitigated_change_pct"] == pytest.approx(-100 * 20 / 1030, abs=1e-3)
    assert na["post_change_kw"] == 70.0


def test_import_targets_pass_or_fail_per_reference():
    m = resilience_metrics("rm", targeted(import_tol_pct=0.5, import_at_or_below=True,
                                          restore_periods=1), series(),
                           no_attack=no_attack_run(30.0))
    got = lines(m)
    assert got == {
        "mitigated import within 0.5% (pre-attack window mean (frozen))": False,  # +1 %
        "mitigated import at or below the reference (pre-attack window mean (frozen))": False,
        "import within 0.5% within 1 market periods (pre-attack window mean (frozen))": False,
        "mitigated import within 0.5% (no-attack run at the same times)": False,  # -1.9 %
        "mitigated import at or below the reference (no-attack run at the same times)": True,
        "import within 0.5% within 1 market periods (no-attack run at the same times)": False,
    }
    m = resilience_metrics("rm", targeted(import_tol_pct=2.0, restore_periods=1), series(),
                           no_attack=no_attack_run(10.0))
    assert all(lines(m).values()) and len(lines(m)) == 4


def test_attack_step_balance_and_generation_first():
    m = resilience_metrics("rm", targeted(rise_vs_generation_lost_pct=5.0,
                                          generation_first=True), series())
    # at 1800 s the import rose by 100 kW and the PV lost 100 kW
    assert m["attack_step"] == {"import_rise_kw": 100.0, "generation_lost_kw": 100.0}
    # first period after detection (2700 s): +40 kW generation, 50 kW curtailed
    assert m["first_mitigated_period"] == {"from_s": 2700.0, "upward_generation_kw": 40.0,
                                           "curtailment_kw": 50.0}
    got = lines(m)
    assert got["import rise at the attack step = generation lost within 5%"] is True
    assert got["spare generation first, then flexible-load curtailment"] is False
    # against the no-attack run at the same step: same numbers here
    m = resilience_metrics("rm", CONFIG, series(), no_attack=no_attack_run(0.0))
    assert m["attack_step"] == {"import_rise_kw": 100.0, "generation_lost_kw": 100.0}


def test_secondary_first_needs_secondary_only_clearings_that_lower_the_import():
    cfg = targeted(secondary_first=True)
    m = resilience_metrics("rm", cfg, with_market(series(), drop_before_primary=40.0))
    order = m["redispatch_order"]
    assert order["primary_from_s"] == 2700.0
    assert order["secondary_clearings_before"] == 2  # 2100 and 2400 s (1800 is primary too)
    assert order["before_primary_change_kw"] < -1.0
    assert order["primary_period_change_kw"] == -90.0  # 1,010 vs 1,100 kW at the attack
    assert lines(m) == {"secondary re-dispatch first, primary market completes": True}
    m = resilience_metrics("rm", cfg, with_market(series()))  # secondary changes nothing
    assert lines(m) == {"secondary re-dispatch first, primary market completes": False}
    # the period table has the primary adjustment and no secondary shortfall
    row = next(r for r in m["periods"] if r["from_s"] == 1800.0)
    assert row["primary_adjust_kw"] == 0.0 and row["secondary_shortfall_kw"] == 0.0


def test_markdown_states_references_and_target_lines():
    m = resilience_metrics("rm", targeted(import_tol_pct=2.0), series(),
                           no_attack=no_attack_run(30.0))
    text = markdown("rm", m)
    assert "| pre-attack window mean (frozen) | 1,000.0 | +10.0 kW (+1.0%) |" in text
    assert "| no-attack run at the same times | 1,030.0 | -20.0 kW (-1.9%) |" in text
    assert "- PASS: mitigated import within 2% (pre-attack window mean (frozen))" in text
    assert "- PASS: mitigated import within 2% (no-attack run at the same times)" in text
    assert "### Market periods around the attack" in text
    assert "the import would have moved by +30.0 kW (+3.0%)" in text
    alone = markdown("rm", resilience_metrics("rm", CONFIG, series()))
    assert "only the frozen pre-attack level is available" in alone


def test_report_reads_the_no_attack_run_of_the_folder(tmp_path):
    plots = tmp_path / "plots"
    plots.mkdir()
    na = tmp_path / "counterfactual" / "no_attack"
    na.mkdir(parents=True)
    no_attack_run(30.0).to_parquet(na / "timeseries.parquet")
    m = resilience_report("rm", CONFIG, series(), plots)
    assert m["references"]["no_attack"]["mitigated_reference_kw"] == 1030.0
    assert (plots / "rm_periods.png").stat().st_size > 0


def test_ansi_a_target_counts_violations_from_the_first_mitigated_period():
    cfg = targeted(voltage_ansi_a=True)
    m = resilience_metrics("rm", cfg, series())
    assert m["during_mitigation"] == {"from_s": 2700.0, "to_s": 5400.0,
                                      "ansi_a_violation_node_steps": 0, "v_min_pu": 0.96,
                                      "v_max_pu": 1.04}
    assert lines(m) == {"voltages within ANSI A during mitigation": True}
    ts = series()
    late = (ts["signal"] == "grid.ansi_a_violations") & ts["time"].isin([3000.0, 3060.0])
    ts.loc[late, "value"] = 2.0
    early = (ts["signal"] == "grid.ansi_a_violations") & (ts["time"] == 1860.0)
    ts.loc[early, "value"] = 5.0  # before the first mitigated period: not counted
    m = resilience_metrics("rm", cfg, ts)
    assert m["during_mitigation"]["ansi_a_violation_node_steps"] == 4
    assert lines(m) == {"voltages within ANSI A during mitigation": False}


def islanded(ts: pd.DataFrame) -> pd.DataFrame:
    """The same run islanded: the PCC carries nothing, the grid-forming unit what it did."""
    unit = ts[ts.signal == "grid.pcc_p_kw"].assign(signal="grid.island_p_kw")
    zero = ts[ts.signal == "grid.pcc_p_kw"].assign(value=0.0)
    return pd.concat([ts[ts.signal != "grid.pcc_p_kw"], zero, unit], ignore_index=True)


def test_islanded_references_follow_the_grid_forming_output():
    """Watching an island, the pre-attack and no-attack references (and the attack step)
    are the grid-forming unit's output, not the PCC import (which is 0)."""
    cfg = ResilienceConfig(watch="grid_forming", schedule_key="market/pcc_schedule")
    m = resilience_metrics("rm", cfg, islanded(series()),
                           no_attack=islanded(no_attack_run(30.0)))
    assert m["watched"] == "grid-forming output"
    pre, na = m["references"]["pre_attack"], m["references"]["no_attack"]
    assert pre["mitigated_reference_kw"] == 1000.0 and pre["mitigated_change_kw"] == 10.0
    assert na["mitigated_reference_kw"] == 1030.0 and na["mitigated_change_kw"] == -20.0
    assert m["windows"]["mitigated"]["pcc_import_kw"] == 0.0


def test_zero_import_target_checks_every_step_of_an_island():
    cfg = ResilienceConfig(watch="grid_forming", schedule_key="market/pcc_schedule",
                           targets=TargetConfig(zero_import_kw=0.01))
    ts = islanded(series())
    m = resilience_metrics("rm", cfg, ts)
    assert m["pcc_import_abs_max_kw"] == 0.0
    assert lines(m) == {"zero PCC import within 0.01 kW at every step": True}
    leak = (ts["signal"] == "grid.pcc_p_kw") & (ts["time"] == 600.0)  # before the attack too
    ts.loc[leak, "value"] = -0.5
    m = resilience_metrics("rm", cfg, ts)
    assert m["pcc_import_abs_max_kw"] == 0.5
    assert lines(m) == {"zero PCC import within 0.01 kW at every step": False}
