"""A sweep folder's files and its table.

    DIR/sweep.json           the sweep definition as run (and the base scenario's path)
    DIR/points.json          every point: id, swept values, replicate, seed, --set items
    DIR/points/<id>/         the point's results folder (like `gridfed run --out`)
    DIR/points/<id>/point.json   the point's row once it ended: status, error, wall time,
                             metrics.json (written by the sweep, also for Dask points)
    DIR/sweep.parquet        one row per point (`sweep_table`)
    DIR/report.md, DIR/plots/   (runner/sweep/report.py)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from runner.sweep.point import POINT_FILE
from runner.sweep.spec import Parameters

SWEEP_FILE = "sweep.json"
POINTS_FILE = "points.json"
TABLE_FILE = "sweep.parquet"
METRIC_PREFIX = "metrics."
FIXED_COLUMNS = ("id", "replicate", "seed", "status", "error", "wall_time_s")


def is_sweep_dir(path: Path) -> bool:
    return (path / SWEEP_FILE).is_file() and (path / POINTS_FILE).is_file()


def point_dir(out: Path, point_id: str) -> Path:
    return out / "points" / point_id


def read_row(out: Path, point_id: str) -> dict[str, Any] | None:
    path = point_dir(out, point_id) / POINT_FILE
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


def flatten(data: Any, prefix: str = "") -> dict[str, float | int | bool]:
    """Every numeric or boolean leaf of nested dicts, keyed by its dotted path."""
    out: dict[str, float | int | bool] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}{key}."))
    elif isinstance(data, bool | int | float) and prefix:
        out[prefix[:-1]] = data
    return out


def metric_columns(metrics: dict[str, Any] | None) -> dict[str, float | int | bool]:
    """A point's metrics.json scalars: `metrics.<federate>.<metric>` (and the run's
    `metrics.recorded_until_s`)."""
    if not metrics:
        return {}
    flat = flatten(metrics.get("federates", {}))
    if metrics.get("recorded_until_s") is not None:
        flat["recorded_until_s"] = metrics["recorded_until_s"]
    return {METRIC_PREFIX + k: v for k, v in flat.items()}


def sweep_table(out: Path) -> pd.DataFrame:
    """One row per point of the folder's sweep (points never run: status `missing`)."""
    points = json.loads((out / POINTS_FILE).read_text())
    records = []
    for point in points:
        row = read_row(out, point["id"]) or {"status": "missing"}
        error = row.get("error")
        records.append({"id": point["id"], **point["params"], "replicate": point["replicate"],
                        "seed": point["seed"], "status": row.get("status", "missing"),
                        "error": error.splitlines()[0] if error else None,
                        "wall_time_s": row.get("wall_time_s"),
                        **metric_columns(row.get("metrics"))})
    table = pd.DataFrame.from_records(records)
    for column in table.columns:  # lists and mixed types (e.g. a swept schedule) as JSON
        values = table[column].dropna()
        kinds = {type(v) for v in values}
        if kinds and not kinds <= {int, float, bool} and kinds != {str}:
            table[column] = table[column].map(lambda v: None if v is None else
                                              v if isinstance(v, str) else json.dumps(v))
        elif kinds and kinds <= {int, float} and len(kinds) == 2:
            table[column] = table[column].astype(float)
    return table


def write_table(out: Path) -> pd.DataFrame:
    table = sweep_table(out)
    table.to_parquet(out / TABLE_FILE, index=False)
    return table


def parameter_keys(out: Path) -> list[str]:
    """The swept keys in the order of the sweep definition."""
    spec = json.loads((out / SWEEP_FILE).read_text())["spec"]["parameters"]
    return Parameters.model_validate(spec).swept_keys()
