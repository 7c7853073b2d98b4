"""Command line: listings, exports, schemas and generated docs."""

import json
from pathlib import Path

from runner.docs import interfaces_markdown
from runner.reference import reference_markdown
from tests.conftest import REPO, gridfed


def test_feeders_list_and_scenarios_list():
    out = gridfed("feeders", "list").stdout
    for name in ("ieee13", "ieee123", "case33bw", "case118zh"):
        assert name in out
    scenarios = gridfed("scenarios", "list").stdout
    assert "baseline_ieee123" in scenarios and "residential load shape" in scenarios


def test_feeders_export_refuses_to_overwrite(tmp_path):
    result = gridfed("feeders", "export", "ieee13", str(tmp_path / "m"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "m" / "master.dss").exists()
    again = gridfed("feeders", "export", "ieee13", str(tmp_path / "m"))
    assert again.returncode != 0
    bad = gridfed("feeders", "export", "ieee999", str(tmp_path / "n"))
    assert bad.returncode != 0 and "ieee999" in bad.stderr


def test_schema_export_gives_valid_json_schemas(tmp_path):
    result = gridfed("schema", str(tmp_path))
    assert result.returncode == 0
    grid_state = json.loads((tmp_path / "GridState.schema.json").read_text())
    assert "pcc_p_kw" in grid_state["properties"]


def test_interfaces_doc_is_up_to_date():
    committed = (REPO / "docs" / "interfaces.md").read_text()
    assert committed == interfaces_markdown(), "run `gridfed docs` and commit docs/interfaces.md"


def test_reference_doc_is_up_to_date_and_describes_every_field():
    committed = (REPO / "docs" / "reference.md").read_text()
    assert committed == reference_markdown(), "run `gridfed docs` and commit docs/reference.md"
    undescribed = [line.split("|")[1].strip() for line in committed.splitlines()
                   if line.startswith("| `") and line.rstrip().endswith("|  |")]
    assert undescribed == [], "fields without a description"


def test_docs_writes_both_references_where_asked(tmp_path):
    result = gridfed("docs", str(tmp_path / "d"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "d" / "interfaces.md").read_text() == interfaces_markdown()
    assert (tmp_path / "d" / "reference.md").read_text() == reference_markdown()


def test_unknown_scenario_name_is_reported():
    result = gridfed("run", "no_such_scenario", "--dry-run")
    assert result.returncode == 2 and "no_such_scenario" in result.stderr


def test_readme_starts_with_the_two_commands():
    lines = [ln for ln in (REPO / "README.md").read_text().splitlines() if ln.strip()]
    assert lines[2].startswith("make demo") and lines[3].startswith("make test")
    assert Path(REPO / ".ci" / "run").read_text().strip().endswith("make test")
