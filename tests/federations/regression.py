"""Digests of every shipped scenario's recorded series (2 h runs), for the regression test.

`python -m tests.federations.regression` rewrites the fixture; do that only for a change
that is meant to alter results, and say so in the commit. Wall-clock signals are excluded.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "regression" / "digests.json"
DURATION = "2h"
WALL_CLOCK = ("solve_ms",)


def shipped_scenarios() -> list[str]:
    return sorted(p.stem for p in (REPO / "scenarios").glob("*.yaml"))


def run_scenario(name: str, out: Path) -> Path:
    """Run a shipped scenario for DURATION into `out`, as a user would."""
    result = subprocess.run(
        [sys.executable, "-m", "runner", "run", name, "--out", str(out),
         "--set", f"duration={DURATION}"],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{result.stdout}\n{result.stderr}")
    return out / "timeseries.parquet"


def series_digests(parquet: Path) -> dict[str, str]:
    """One SHA-256 per recorded signal over its (time, id, value) rows in a fixed order.

    Values are rounded to 12 significant digits so the digest holds the model's numbers,
    not the last bit of a float print.
    """
    frame = pd.read_parquet(parquet)
    frame = frame[~frame["signal"].str.endswith(WALL_CLOCK)]
    frame = frame.sort_values(["signal", "time", "id"], kind="stable")
    digests: dict[str, str] = {}
    for signal, rows in frame.groupby("signal", sort=True):
        values = np.array([float(f"{v:.12g}") for v in rows["value"].to_numpy()])
        h = hashlib.sha256()
        h.update(rows["time"].to_numpy(dtype=float).tobytes())
        h.update("\x00".join(map(str, rows["id"])).encode())
        h.update(values.tobytes())
        digests[str(signal)] = h.hexdigest()
    return digests


def main() -> None:
    import tempfile

    table: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in shipped_scenarios():
            table[name] = series_digests(run_scenario(name, Path(tmp) / name))
            print(name, len(table[name]), "signals")
    FIXTURE.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
