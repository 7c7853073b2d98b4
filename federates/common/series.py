"""The one accessor of a run's recorded series (long format: time, signal, id, value).

Every report and every analysis reads signals through these functions, so they all agree
on what a signal is at a time: the last row recorded for that (time, id), NaN included
(a NaN says "no value this step" and must not be replaced by an earlier row), sorted by
time. A scalar signal is the rows with id == ''.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd


def _rows(ts: pd.DataFrame, signal: str) -> pd.DataFrame:
    sel = ts[ts["signal"] == signal]
    return sel.drop_duplicates(["time", "id"], keep="last")


def scalar(ts: pd.DataFrame, signal: str) -> pd.Series:
    """One scalar signal (id == '') as a time-indexed series (empty if not recorded)."""
    sel = _rows(ts, signal)
    sel = sel[sel["id"] == ""]
    return sel.set_index("time")["value"].sort_index().rename(signal)


def wide(ts: pd.DataFrame, signal: str) -> pd.DataFrame:
    """A per-id signal as a time x id table (empty if not recorded)."""
    sel = _rows(ts, signal)
    if sel.empty:
        return pd.DataFrame()
    return sel.pivot(index="time", columns="id", values="value").sort_index()


def summed(ts: pd.DataFrame, signal: str, ids: Iterable[str] | None = None) -> pd.Series:
    """A per-id signal summed over its ids (or over `ids` only) at each time."""
    sel = _rows(ts, signal)
    if ids is not None:
        sel = sel[sel["id"].isin(list(ids))]
    return sel.groupby("time")["value"].sum().sort_index()
