"""Prosumers of the paper's case study (Tables I and II), regenerated from case118zh loads.

The paper numbers its buses differently from MATPOWER ``case118zh``; every parameter is an
exact fraction of one case118zh load (dP^d = 10 %, dP^m = 15 %, dQ^m = 20 % of the bus load,
chi = Q/P), which fixes the mapping paper bus -> case118zh bus. Paper bus 53 matches no load
exactly; its printed values are kept and it is placed at M51.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Kind = Literal["non", "ela"]
Resource = Literal["gen", "load"]


@dataclass(frozen=True)
class ProsumerSpec:
    """How one prosumer is derived from its bus load (fractions of the load at ``bus``)."""

    paper_bus: int
    bus: str
    kind: Kind
    resource: Resource
    role: Literal["buy", "sell"]
    a: float = 0.0
    fixed_dp: float | None = None
    """Printed dP^d/dP^m [MWh] used instead of the load fraction (paper bus 53 only)."""
    fixed_dq: float | None = None


# Order of Table III: noncontrollable (Table I) then elastic (Table II) prosumers.
PAPER_PROSUMERS: tuple[ProsumerSpec, ...] = (
    ProsumerSpec(74, "71", "non", "load", "buy"),
    ProsumerSpec(79, "76", "non", "gen", "buy"),
    ProsumerSpec(116, "111", "non", "gen", "buy"),
    ProsumerSpec(53, "51", "non", "gen", "sell", fixed_dp=0.08103, fixed_dq=0.189332),
    ProsumerSpec(20, "20", "ela", "load", "buy", a=4.0),
    ProsumerSpec(76, "73", "ela", "load", "sell", a=4.2),
    ProsumerSpec(44, "42", "ela", "gen", "sell", a=3.8),
    ProsumerSpec(73, "70", "ela", "gen", "sell", a=3.6),
)

DEVIATION_SHARE = 0.10
ELASTIC_SHARE = 0.15
Q_RANGE_SHARE = 0.20


@dataclass(frozen=True)
class Prosumer:
    """One prosumer's private data in MWh (per interval), $/MWh and MVArh."""

    name: str
    paper_bus: int
    bus: str
    kind: Kind
    resource: Resource
    a: float
    b: float
    dp: float
    """dP^d for noncontrollable, dP^m for elastic prosumers [MWh]."""
    dq_max: float
    """Generator reactive range dQ^m (symmetric) [MVArh]; 0 for loads."""
    chi: float
    """Load Q/P; 0 for generators."""

    @property
    def role(self) -> str:
        return "sell" if self.dp > 0 else "buy"


def paper_prosumers(loads_kw: dict[str, tuple[float, float]], energy_price: float,
                    interval_h: float = 1.0,
                    specs: tuple[ProsumerSpec, ...] = PAPER_PROSUMERS) -> list[Prosumer]:
    """Tables I and II from the bus loads ``{bus: (kW, kVAr)}`` of the feeder.

    ``b_i`` is the day-ahead energy price for every elastic prosumer (paper §VI-A).
    """
    out = []
    for s in specs:
        if s.bus not in loads_kw:
            raise ValueError(f"prosumer at paper bus {s.paper_bus}: bus {s.bus!r} has no load")
        p_mw, q_mvar = (v / 1000.0 for v in loads_kw[s.bus])
        share = DEVIATION_SHARE if s.kind == "non" else ELASTIC_SHARE
        sign = 1.0 if s.role == "sell" else -1.0
        dp = s.fixed_dp if s.fixed_dp is not None else sign * share * p_mw * interval_h
        if s.resource == "gen":
            dq = s.fixed_dq if s.fixed_dq is not None else Q_RANGE_SHARE * q_mvar * interval_h
            chi = 0.0
        else:
            dq, chi = 0.0, q_mvar / p_mw
        out.append(Prosumer(name=f"P{s.paper_bus}", paper_bus=s.paper_bus, bus=s.bus,
                            kind=s.kind, resource=s.resource, a=s.a,
                            b=energy_price if s.kind == "ela" else 0.0,
                            dp=float(dp), dq_max=float(dq), chi=float(chi)))
    return out


def bus_loads(feeder) -> dict[str, tuple[float, float]]:
    """Nominal (kW, kVAr) per bus of a feeder (sum of its spot loads)."""
    loads = feeder.loads
    grouped = loads.groupby("bus")[["kw", "kvar"]].sum()
    return {str(b): (float(r.kw), float(r.kvar)) for b, r in grouped.iterrows()}


def alpha_beta(p: list[Prosumer], reserve_up: float, reserve_down: float
               ) -> tuple[np.ndarray, np.ndarray]:
    """Unified form (12)-(13): alpha_i dP^2 + beta_i dP per prosumer."""
    alpha = np.array([x.a if x.kind == "ela" else 0.0 for x in p])
    beta = np.array([x.b if x.kind == "ela" else
                     (reserve_up if x.dp < 0 else reserve_down) for x in p])
    return alpha, beta


def trade_box(p: list[Prosumer], two_sided: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Omega_P: [dP^d, 0] / [0, dP^d] for noncontrollable, [dP^m, 0] / [0, dP^m] elastic."""
    lo = np.array([min(x.dp, 0.0) for x in p])
    hi = np.array([max(x.dp, 0.0) for x in p])
    if two_sided:
        ela = np.array([x.kind == "ela" for x in p])
        width = np.abs([x.dp for x in p])
        lo = np.where(ela, -width, lo)
        hi = np.where(ela, width, hi)
    return lo, hi
