"""Feeder catalog: :class:`Feeder` objects built from the shipped tables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

import pandas as pd

from feeders import builder
from feeders.export import export_model
from feeders.network import Network
from feeders.tables import FeederTables, available, read_tables
from feeders.topology import build_network


@dataclass(frozen=True)
class FeederInfo:
    """One line of ``list_feeders()``."""

    name: str
    description: str
    buses: int
    phases: int
    kind: str


class Feeder:
    """A feeder model: tables, OpenDSS commands, export and array (Network) view."""

    def __init__(self, tables: FeederTables) -> None:
        self.tables = tables
        meta = tables.meta
        self.name: str = meta["name"]
        self.description: str = meta["description"]
        self.kind: str = meta["kind"]
        self.source_bus: str = str(meta["source_bus"])
        self.pcc_element: str = meta["pcc_element"]
        self.pcc_sign: float = float(meta.get("pcc_sign", 1.0))
        """PCC import (kW) = ``pcc_sign * sum(real(terminal-1 powers of pcc_element))``."""
        self.base_kv_ll: float = float(meta["base_kv_ll"])
        self.tap_step: float = tables.tap_step

    def __repr__(self) -> str:
        return f"Feeder({self.name!r}, {len(self.tables.buses)} buses, {self.kind})"

    def dss_commands(self, taps: Mapping[str, int] | None = None,
                     lock_controls: bool = False) -> list[str]:
        """Commands for ``opendssdirect.Text.Command``, starting with ``Clear``; no solve.

        ``taps`` maps regulator (transformer) names to integer steps from neutral
        (``tap = 1 + step * tap_step``); ``lock_controls`` disables every RegControl.
        """
        return builder.dss_commands(self.tables, taps, lock_controls)

    def export(self, directory: str | Path, taps: Mapping[str, int] | None = None,
               lock_controls: bool = False) -> Path:
        """Write ``master.dss`` and the files it redirects to; returns the master path."""
        return export_model(self.tables, Path(directory), taps, lock_controls)

    @cached_property
    def network(self) -> Network:
        return build_network(self.tables)

    @property
    def loads(self) -> pd.DataFrame:
        """Spot loads (a copy): name, bus, phases, conn, model, kw, kvar (nominal)."""
        cols = ["name", "bus", "phases", "conn", "model", "kw", "kvar"]
        return self.tables.loads[cols].copy()

    @property
    def regulators(self) -> list[str]:
        """Regulator transformer names (IEEE names, e.g. ``reg1a``)."""
        return list(self.tables.regulators["transformer"])

    @property
    def regcontrols(self) -> list[str]:
        return list(self.tables.regulators["name"])

    @property
    def capacitors(self) -> list[str]:
        return list(self.tables.capacitors["name"])

    @property
    def published_taps(self) -> dict[str, int]:
        """Published regulator taps of the IEEE test case (integer steps)."""
        regs = self.tables.regulators
        return dict(zip(regs["transformer"], regs["published_tap"].astype(int), strict=True))

    @cached_property
    def bus_coords(self) -> dict[str, tuple[float, float]]:
        """Bus (x, y): the IEEE one-line layouts; for the MATPOWER cases a synthetic tree
        layout (x = hops from the substation, y = leaf order of a depth-first walk)."""
        xy = self.tables.buses.dropna(subset=["x", "y"])
        return {b: (float(x), float(y)) for b, x, y in zip(xy["bus"], xy["x"], xy["y"],
                                                           strict=True)}

    def info(self) -> FeederInfo:
        phases = 3 if self.kind == "balanced" else max(len(p) for p in self.network.bus_phases)
        return FeederInfo(self.name, self.description, len(self.tables.buses), phases, self.kind)


@cache
def load(name: str) -> Feeder:
    """The feeder ``name`` (cached); ``ValueError`` lists the known feeders if unknown."""
    try:
        return Feeder(read_tables(str(name).strip().lower()))
    except KeyError:
        known = ", ".join(available())
        raise ValueError(f"unknown feeder {name!r}; known feeders: {known}") from None


def list_feeders() -> list[FeederInfo]:
    """All shipped feeders."""
    return list(_feeder_infos())


@cache
def _feeder_infos() -> tuple[FeederInfo, ...]:
    """Computed once per process: every scenario validation asks (~0.15 s for ieee123)."""
    return tuple(load(n).info() for n in available())
