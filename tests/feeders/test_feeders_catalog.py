"""Feeder catalog, OpenDSS commands and export."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import opendssdirect as dss
import pandas as pd
import pytest

import feeders

NAMES = ["case118zh", "case33bw", "ieee123", "ieee13"]


def test_list_feeders() -> None:
    infos = {i.name: i for i in feeders.list_feeders()}
    assert sorted(infos) == NAMES
    assert infos["ieee13"].kind == "three-phase unbalanced"
    assert infos["case33bw"].kind == "balanced" and infos["case33bw"].buses == 33
    assert infos["case118zh"].buses == 118 and infos["ieee123"].phases == 3
    assert all(i.description for i in infos.values())


def test_unknown_feeder_error_names_it_and_lists_known() -> None:
    with pytest.raises(ValueError) as exc:
        feeders.load("nope")
    msg = str(exc.value)
    assert "'nope'" in msg
    assert all(n in msg for n in NAMES)


def test_load_is_cached_and_exposes_metadata() -> None:
    f = feeders.load("ieee123")
    assert feeders.load("ieee123") is f
    assert sorted(f.regulators) == ["reg1a", "reg2a", "reg3a", "reg3c", "reg4a", "reg4b", "reg4c"]
    assert f.published_taps == {"reg1a": 7, "reg2a": -1, "reg3a": 0, "reg3c": -1, "reg4a": 8,
                                "reg4b": 1, "reg4c": 5}
    assert f.capacitors == ["C83", "C88a", "C90b", "C92c"]
    assert {"L1", "L115", "Sw1"} <= set(f.tables.lines["name"])
    assert list(f.loads.columns) == ["name", "bus", "phases", "conn", "model", "kw", "kvar"]
    assert f.loads["kw"].sum() == pytest.approx(3490.0)
    assert set(f.loads["model"]) == {1, 2, 5}
    assert f.source_bus == "150" and f.base_kv_ll == 4.16
    assert f.bus_coords["1"] == (700.0, 1500.0)
    f13 = feeders.load("ieee13")
    assert f13.regulators == ["reg1", "reg2", "reg3"]
    assert f13.published_taps == {"reg1": 10, "reg2": 8, "reg3": 11}
    assert f13.capacitors == ["Cap1", "Cap2"]
    assert f13.loads["kw"].sum() == pytest.approx(3466.0)
    assert len(feeders.load("case33bw").bus_coords) == 33


@pytest.mark.parametrize("name", NAMES)
def test_commands_compile_and_pcc_element_gives_import(name: str) -> None:
    f = feeders.load(name)
    cmds = f.dss_commands()
    assert cmds[0] == "Clear"
    for cmd in cmds:
        dss.Text.Command(cmd)
    dss.Solution.Solve()
    assert dss.Solution.Converged()
    dss.Circuit.SetActiveElement(f.pcc_element)
    p = dss.CktElement.Powers()
    n = dss.CktElement.NumConductors()
    import_kw = f.pcc_sign * sum(p[0:2 * n:2])
    total = -dss.Circuit.TotalPower()[0]
    assert import_kw == pytest.approx(total, rel=1e-3)
    assert import_kw > f.loads["kw"].sum() * 0.9


def test_unknown_regulator_in_taps_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown regulator 'regX'"):
        feeders.load("ieee13").dss_commands(taps={"regX": 1})


def _solve_master_in_fresh_process(master: Path) -> pd.Series:
    code = (
        "import json, sys, opendssdirect as dss\n"
        "dss.Text.Command(f'compile [{sys.argv[1]}]')\n"
        "assert dss.Solution.Converged()\n"
        "print(json.dumps(dict(zip(dss.Circuit.AllNodeNames(), dss.Circuit.AllBusMagPu()))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(master)], capture_output=True,
                         text=True, check=True, timeout=120)
    return pd.Series(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("name", ["ieee13", "ieee123", "case33bw"])
def test_export_round_trip(name: str, tmp_path: Path) -> None:
    f = feeders.load(name)
    taps = f.published_taps or None
    master = f.export(tmp_path / "model", taps=taps, lock_controls=True)
    assert master.name == "master.dss"
    files = {p.name for p in master.parent.iterdir()}
    assert {"master.dss", "lines.dss", "loads.dss", "buscoords.csv"} <= files
    if f.regulators:
        assert {"regulators.dss", "capacitors.dss", "linecodes.dss"} <= files
    text = "\n".join(p.read_text() for p in master.parent.glob("*.dss"))
    assert "shared" not in text and "Redirect" in text
    exported = _solve_master_in_fresh_process(master)
    for cmd in f.dss_commands(taps=taps, lock_controls=True):
        dss.Text.Command(cmd)
    dss.Solution.Solve()
    inproc = pd.Series(dss.Circuit.AllBusMagPu(), index=dss.Circuit.AllNodeNames())
    assert sorted(exported.index) == sorted(inproc.index)
    assert np.abs(exported.reindex(inproc.index) - inproc).max() < 1e-9


def test_export_refuses_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        feeders.load("ieee13").export(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert feeders.load("case33bw").export(empty).is_file()


def test_package_has_no_reference_to_shared_data() -> None:
    root = Path(feeders.__file__).parent
    for path in root.rglob("*"):
        if path.is_file() and path.suffix in {".py", ".csv", ".json"}:
            assert "/shared" not in path.read_text(encoding="utf-8"), path
