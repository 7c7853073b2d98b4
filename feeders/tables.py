"""Feeder data tables: the CSV/JSON files under ``feeders/data/<name>/``.

Each feeder is a folder with ``feeder.json`` (circuit, source, voltage bases, metadata) and
CSV tables. Absent CSV files mean "no such elements". Column meanings:

- ``buses.csv``: bus, base_kv_ll (nominal line-to-line kV), x, y (coordinates, may be empty)
- ``linecodes.csv``: one row per lower-triangle matrix entry: linecode, nphases, units,
  row, col (1-based), r, x (ohm per unit length), c_nf (nF per unit length)
- ``lines.csv``: name, bus1, bus2, nodes (e.g. ``1.2.3``), phases, linecode, length, units,
  r1, x1, r0, x0, c1, c0 (sequence data when no linecode), switch, enabled,
  normally_open (1: open point, excluded from the Network), normamps
- ``transformers.csv``: name, phases, bus1, nodes1, bus2, nodes2, conn1, conn2, kv1, kv2,
  kva, xhl (%), pct_r (% per winding), ppm, bank
- ``regulators.csv``: name (RegControl), transformer, winding, vreg, band, ptratio, ctprim,
  r, x, published_tap (integer step)
- ``capacitors.csv``: name, bus, nodes, phases, kvar, kv
- ``loads.csv``: name, bus, nodes, phases, conn, model (1 PQ, 2 Z, 5 I), kv, kw, kvar
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import pandas as pd

_STR = "str"
_F = "float64"
_I = "int64"

SCHEMAS: dict[str, dict[str, str]] = {
    "buses": {"bus": _STR, "base_kv_ll": _F, "x": _F, "y": _F},
    "linecodes": {
        "linecode": _STR, "nphases": _I, "units": _STR, "row": _I, "col": _I,
        "r": _F, "x": _F, "c_nf": _F,
    },
    "lines": {
        "name": _STR, "bus1": _STR, "bus2": _STR, "nodes": _STR, "phases": _I,
        "linecode": _STR, "length": _F, "units": _STR, "r1": _F, "x1": _F, "r0": _F,
        "x0": _F, "c1": _F, "c0": _F, "switch": _I, "enabled": _I, "normally_open": _I,
        "normamps": _F,
    },
    "transformers": {
        "name": _STR, "phases": _I, "bus1": _STR, "nodes1": _STR, "bus2": _STR,
        "nodes2": _STR, "conn1": _STR, "conn2": _STR, "kv1": _F, "kv2": _F, "kva": _F,
        "xhl": _F, "pct_r": _F, "ppm": _F, "bank": _STR,
    },
    "regulators": {
        "name": _STR, "transformer": _STR, "winding": _I, "vreg": _F, "band": _F,
        "ptratio": _F, "ctprim": _F, "r": _F, "x": _F, "published_tap": _I,
    },
    "capacitors": {
        "name": _STR, "bus": _STR, "nodes": _STR, "phases": _I, "kvar": _F, "kv": _F,
    },
    "loads": {
        "name": _STR, "bus": _STR, "nodes": _STR, "phases": _I, "conn": _STR, "model": _I,
        "kv": _F, "kw": _F, "kvar": _F,
    },
}


@dataclass(frozen=True, eq=False)
class FeederTables:
    """All tables of one feeder, as read from package data."""

    meta: dict[str, Any]
    buses: pd.DataFrame
    linecodes: pd.DataFrame
    lines: pd.DataFrame
    transformers: pd.DataFrame
    regulators: pd.DataFrame
    capacitors: pd.DataFrame
    loads: pd.DataFrame

    @property
    def tap_step(self) -> float:
        """Regulator tap step of this feeder [pu per step] (``feeder.json`` ``tap_step``)."""
        return float(self.meta["tap_step"])


def _data_root() -> Traversable:
    return resources.files("feeders") / "data"


def available() -> list[str]:
    """Names of the feeders shipped as package data, sorted."""
    return sorted(p.name for p in _data_root().iterdir() if (p / "feeder.json").is_file())


def _read_csv(folder: Traversable, table: str) -> pd.DataFrame:
    schema = SCHEMAS[table]
    path = folder / f"{table}.csv"
    if not path.is_file():
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in schema.items()})
    with path.open("r", encoding="utf-8") as fh:
        df = pd.read_csv(fh, dtype=str, keep_default_na=False)
    for col, typ in schema.items():
        if col not in df:
            df[col] = "" if typ == _STR else ("0" if typ == _I else "nan")
        if typ == _STR:
            continue
        values = df[col].replace("", "nan" if typ == _F else "0")
        df[col] = values.astype(float).astype(typ)
    return df[list(schema)]


def read_tables(name: str) -> FeederTables:
    """Read the tables of feeder ``name`` (raises ``KeyError`` if it is not shipped)."""
    folder = _data_root() / name
    if not (folder / "feeder.json").is_file():
        raise KeyError(name)
    meta = json.loads((folder / "feeder.json").read_text(encoding="utf-8"))
    return FeederTables(meta=meta, **{t: _read_csv(folder, t) for t in SCHEMAS})
