"""Federate reports of a results folder: run side by side, same answers as one by one."""

import json
import os
import subprocess
import sys

import pandas as pd

from runner import results
from tests.conftest import REPO


def folder(tmp_path, roles: dict[str, str]):
    (tmp_path / "configs").mkdir()
    for name, role in roles.items():
        (tmp_path / "configs" / f"{name}.json").write_text(json.dumps(
            {"kind": "tests.fedtoys:Summing", "config": {"role": role}}))
    ts = pd.DataFrame({"time": [0.0, 60.0, 0.0, 60.0], "signal": ["a.x", "a.x", "b.x", "b.x"],
                       "id": [""] * 4, "value": [1.0, 2.0, 10.0, 20.0]})
    return ts.astype({"signal": "string[pyarrow]", "id": "string[pyarrow]"})


ROLES = {"a": "source", "b": "source", "c": "broken"}


def reports_in_a_fresh_process(tmp_path) -> tuple[dict, int]:
    """Side-by-side reports as the runner makes them: from a single-threaded process (this
    one may run threads of libraries other tests loaded, where forking is not safe)."""
    code = ("import json, os, sys; from pathlib import Path; from runner import results; "
            "from tests.runner.test_results_reports import ROLES, folder; "
            "d = Path(sys.argv[1]); d.mkdir(); ts = folder(d, ROLES); "
            "print(json.dumps([results.federate_reports(d, ts), os.getpid()]))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=REPO, check=True,
                         capture_output=True, text=True).stdout
    reports, pid = json.loads(out.splitlines()[-1])
    return reports, pid


def test_reports_side_by_side_equal_one_by_one_and_a_broken_one_is_kept_apart(tmp_path,
                                                                              monkeypatch):
    side_by_side, runner_pid = reports_in_a_fresh_process(tmp_path / "fresh")
    ts = folder(tmp_path, ROLES)
    monkeypatch.setattr(results, "_can_fork", lambda: False)
    one_by_one = results.federate_reports(tmp_path, ts)
    assert side_by_side["a"]["sum"] == 3.0 and side_by_side["b"]["sum"] == 30.0
    assert "broken on purpose" in side_by_side["c"]["report_error"]
    strip = {n: {k: v for k, v in r.items() if k != "pid"} for n, r in side_by_side.items()}
    assert strip == {n: {k: v for k, v in r.items() if k != "pid"}
                     for n, r in one_by_one.items()}
    assert one_by_one["a"]["pid"] == os.getpid()
    if len(os.sched_getaffinity(0)) > 1:  # CI has 2 cores: the reports ran in workers
        assert side_by_side["a"]["pid"] != runner_pid
