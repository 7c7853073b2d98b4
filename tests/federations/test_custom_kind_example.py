"""examples/custom_kind runs as docs/custom_kinds.md says: from its folder, the kind found
in the current folder, the battery behaving by its stated rule through a real broker."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import yaml

from tests.conftest import REPO

EXAMPLE = REPO / "examples" / "custom_kind"


def test_docs_show_the_example_files_verbatim():
    doc = (REPO / "docs" / "custom_kinds.md").read_text()
    assert f"```python\n{(EXAMPLE / 'mykinds.py').read_text()}```" in doc
    assert f"```yaml\n{(EXAMPLE / 'peak_shaving.yaml').read_text()}```" in doc


def test_example_runs_from_its_folder_and_shaves_the_peak(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "runner", "run", "peak_shaving.yaml",
                             "--out", str(out)], cwd=EXAMPLE, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    cfg = yaml.safe_load((EXAMPLE / "peak_shaving.yaml").read_text())
    shaver = cfg["federates"]["shaver"]["config"]
    ts = pd.read_parquet(out / "timeseries.parquet")
    pcc = ts[ts.signal == "grid.pcc_p_kw"].set_index("time").value.sort_index()
    p = -ts[(ts.signal == "shaver.p_kw") & (ts.id == shaver["bus"])].set_index("time").value
    p = p.sort_index()
    # the rule of the docs, replayed on the recorded import (one-step lag, energy limit)
    hours, energy, prev = 60 / 3600, shaver["capacity_kwh"], 0.0
    expected = []
    for k in range(len(pcc)):
        estimate = pcc.iloc[k - 1] + prev if k else 0.0
        prev = min(max(0.0, estimate - shaver["threshold_kw"]), shaver["p_max_kw"],
                   energy / hours)
        energy -= prev * hours
        expected.append(prev)
    np.testing.assert_allclose(p.to_numpy(), expected, rtol=0, atol=1e-9)
    # physics: while it discharges, the import sits at the threshold (within the losses
    # the battery saves); it spends exactly its energy
    active = p[p > 1e-6].index[1:]
    assert len(active) > 10
    assert np.all(np.abs(pcc.loc[active] - shaver["threshold_kw"]) < 10.0)
    assert abs(p.sum() * hours - shaver["capacity_kwh"]) < 1e-6
