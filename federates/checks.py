"""Compile-time checks shared by the kinds' `FederateWrapper.check` hooks.

Each raises ValueError whose message starts with the config field path it was given, so the
runner can report `federates.<name>.config.<field>: what is wrong, what was expected`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd


@lru_cache(maxsize=8)
def feeder_buses(feeder: str) -> frozenset[str]:
    """Lower-case bus names of a shipped feeder (OpenDSS names are case-insensitive)."""
    import feeders

    return frozenset(b.lower() for b in feeders.load(feeder).network.buses)


def check_bus(field: str, bus: str, feeder: str) -> None:
    if str(bus).lower() not in feeder_buses(feeder):
        raise ValueError(f"{field}: {bus!r} is not a bus of {feeder}")


def check_feeder(field: str, feeder: str) -> None:
    import feeders

    known = [f.name for f in feeders.list_feeders()]
    if feeder and feeder not in known:
        raise ValueError(f"{field}: unknown feeder {feeder!r}; expected one of {known}")


def read_csv(field: str, path: str, columns: set[str],
             time_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """Open and parse a CSV a federate will read: it exists, has `columns` (and one of
    `time_columns`, if given, strictly increasing), and every needed value is a number."""
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"{field}: CSV file {path!r} not found (relative paths are read from "
                         "the folder gridfed is started in)")
    try:
        frame = pd.read_csv(file)
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        raise ValueError(f"{field}: {path!r} is not a readable CSV ({exc})") from None
    missing = columns - set(frame.columns)
    time_column = next((c for c in time_columns if c in frame.columns), None)
    if missing or (time_columns and time_column is None):
        need = sorted(columns) + ([" or ".join(time_columns)] if time_columns else [])
        raise ValueError(f"{field}: {path!r} has columns {list(frame.columns)}; expected "
                         f"{need}")
    if frame.empty:
        raise ValueError(f"{field}: {path!r} has no rows")
    for column in sorted(columns | ({time_column} if time_column else set())):
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.isna().any() or not np.isfinite(values).all():
            row = int(np.flatnonzero(~np.isfinite(values.fillna(np.inf)))[0])
            raise ValueError(f"{field}: {path!r} column {column!r} row {row + 1}: "
                             f"{frame[column].iloc[row]!r} is not a finite number")
    if time_column is not None:
        times = frame[time_column].to_numpy(float)
        bad = np.flatnonzero(np.diff(times) <= 0)
        if bad.size:
            raise ValueError(f"{field}: {path!r} column {time_column!r} is not strictly "
                             f"increasing (row {bad[0] + 2}: {times[bad[0] + 1]:g} after "
                             f"{times[bad[0]]:g})")
    return frame
