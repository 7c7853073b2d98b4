"""report.md of a results folder and the counterfactual comparison table (no federation)."""

from federates.resilience.comparison import comparison_markdown
from runner.report import run_report_markdown, write_run_report


def test_report_collects_status_summary_federate_reports_and_plots(tmp_path):
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "rm_pcc_attack.png").write_bytes(b"png")
    (tmp_path / "rm_attack_report.md").write_text("## Attack and mitigation (rm)\n\n| x |\n")
    metrics = {"scenario": "attack_1b", "complete": False, "status": "timeout",
               "message": "wall-clock limit", "wall_time_s": 12.5,
               "federates": {"grid": {"peak_import_kw": 3363.1, "steps": 13}}}
    text = run_report_markdown(tmp_path, metrics)
    assert text.startswith("# Run report: attack_1b")
    assert "INCOMPLETE (timeout: wall-clock limit)" in text
    assert "| grid: Peak import [kW] | 3363.1 |" in text
    assert "## Attack and mitigation (rm)" in text
    assert "![rm_pcc_attack](plots/rm_pcc_attack.png)" in text
    assert "comparison.md" not in text
    (tmp_path / "comparison.md").write_text("# Counterfactual\n")
    assert "[comparison.md](comparison.md)" in write_run_report(tmp_path, metrics).read_text()


def _run(pcc: float, detected: float | None, updates: int) -> dict:
    window = {"pcc_import_kw": pcc, "total_cost": 10.0, "total_load_kw": pcc - 50,
              "v_min_pu": 0.97, "v_max_pu": 1.03, "ansi_a_violation_node_steps": 0}
    return {"dir": "x", "status": "ok", "detection_time_s": detected,
            "coefficient_updates": updates,
            "windows": {k: dict(window) for k in ("pre_attack", "post_attack", "mitigated")}}


def test_comparison_table_has_a_column_per_run_and_a_section_per_window():
    data = {"scenario": "attack_1b", "attack_start_s": 420.0, "attack_end_s": None,
            "windows": {"pre_attack": {"from_s": 0, "to_s": 420},
                        "post_attack": {"from_s": 420, "to_s": 600},
                        "mitigated": {"from_s": 420, "to_s": 720}},
            "runs": {"main": _run(3000.0, 420.0, 2), "no_mitigation": _run(3040.0, 420.0, 0),
                     "no_attack": _run(2990.0, None, 0)}}
    md = comparison_markdown(data)
    assert "attack from 420.0 s to the end of the run" in md
    assert md.count("| | Attack + mitigation | No mitigation | No attack |") == 4
    assert "## Post-attack, before mitigation [420, 600) s" in md
    assert "| PCC import [kW] | 3,000.0 | 3,040.0 | 2,990.0 |" in md
    assert "| Detection time [s] | 420.0 | 420.0 | - |" in md
    assert "| Coefficient updates sent | 2 | 0 | 0 |" in md
    empty = comparison_markdown({**data, "windows": {}})
    assert "recorded no attack window" in empty
