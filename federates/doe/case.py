"""DOE case data: DERs, limits and objective weights (pure data, no solver, no OpenDSS).

DERs are injections (kW > 0 = export). The limits are inputs of the penalty layer only: the
surrogates never see them, so changing a limit needs no retraining.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


@dataclass(frozen=True)
class Der:
    """One DER: bus, forecast range of its injection (kW) and constant reactive injection."""

    name: str
    bus: str
    p_max_kw: float
    p_min_kw: float
    q_kvar: float = 0.0


@dataclass(frozen=True)
class Limits:
    """Operating limits: node voltage band (pu), uniform line current (A), reverse flow (kW).

    ``margin`` tightens every limit by the same relative amount (δ of the spec, default 0).
    """

    v_min_pu: float = 0.95
    v_max_pu: float = 1.05
    i_max_a: float = 400.0
    p_rev_kw: float = 200.0
    margin: float = 0.0

    def with_(self, **kw: float) -> Limits:
        return replace(self, **kw)

    @property
    def v_band(self) -> tuple[float, float]:
        return self.v_min_pu + self.margin, self.v_max_pu - self.margin


@dataclass(frozen=True)
class Weights:
    """Objective weights of (2): α per kW deviation, β per kW loss, γ per unit violation."""

    alpha: float = 1.0
    beta: float = 1.0
    gamma_v: float = 1e6
    gamma_i: float = 100.0
    gamma_p: float = 10.0


@dataclass(frozen=True)
class Case:
    """A DOE case: feeder, DERs, monitored lines (reverse-flow limit) and defaults."""

    feeder: str
    ders: tuple[Der, ...]
    monitored_lines: tuple[str, ...]
    limits: Limits = field(default_factory=Limits)
    weights: Weights = field(default_factory=Weights)
    s_base_kva: float = 5000.0
    """NMAE base of the loss output (substation rating)."""

    @property
    def n_der(self) -> int:
        return len(self.ders)

    def p_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(p_min, p_max) of Table I, kW."""
        return (np.array([d.p_min_kw for d in self.ders]),
                np.array([d.p_max_kw for d in self.ders]))


IEEE123 = Case(
    feeder="ieee123",
    ders=(Der("pv", "35", 800.0, 0.0, 80.0), Der("ev", "86", 500.0, -500.0, 0.0)),
    monitored_lines=("L114", "L77"),
)
"""The seed's Table I on IEEE 123; limits and weights as decided in the spec (§6)."""

IEEE13 = Case(
    feeder="ieee13",
    ders=(Der("pv", "680", 1200.0, 0.0, 0.0), Der("ev", "675", 600.0, -900.0, 0.0)),
    monitored_lines=("671680", "692675"),
    limits=Limits(v_min_pu=0.95, v_max_pu=1.08, i_max_a=650.0, p_rev_kw=200.0),
)
"""A small test case: PV at the end of the unloaded 671-680 line, EV station at 675. The
voltage band is widened to 1.08 pu because the published taps hold bus rg60 at 1.069 pu."""

CASES = {"ieee123": IEEE123, "ieee13": IEEE13}


def case(name: str) -> Case:
    """The shipped case of feeder ``name``."""
    try:
        return CASES[name]
    except KeyError:
        raise ValueError(f"no DOE case for feeder {name!r}; known: {sorted(CASES)}") from None
