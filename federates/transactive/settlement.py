"""Settlement per Remark 1 / Table III: welfare with and without the market.

Without the market a noncontrollable deviation settles with reserves: pi_Rup * dP^d for a
shortfall (dP^d < 0), pi_Rdown * dP^d for a surplus. With the market the trade dP_i settles
at the prosumer's price and the untraded residual dP^d - dP_i still with reserves; elastic
prosumers earn price * dP_i minus their cost (plus their utility when buying).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from federates.transactive.case import MarketCase
from federates.transactive.central import Clearing, dlmpa, effective_price


@dataclass(frozen=True)
class Settlement:
    """Per-prosumer prices and welfare [$], plus market totals."""

    price: np.ndarray
    dlmpa: np.ndarray
    effective: np.ndarray
    welfare_without: np.ndarray
    welfare_with: np.ndarray
    reserve_saved_mwh: float
    congestion_rent: float
    """What the operator keeps: buyers' payments minus sellers' receipts [$]."""

    @property
    def surplus(self) -> np.ndarray:
        return self.welfare_with - self.welfare_without


def reserve_price(case: MarketCase) -> np.ndarray:
    """pi_Rup for noncontrollable buyers, pi_Rdown for sellers (0 for elastic)."""
    non = ~case.is_ela
    return np.where(non, np.where(case.dpd < 0, case.reserve_up, case.reserve_down), 0.0)


def welfare_without_market(case: MarketCase) -> np.ndarray:
    """Reserve settlement of every deviation: pi_R * dP^d (elastic prosumers: 0)."""
    return reserve_price(case) * case.dpd


def settle(case: MarketCase, c: Clearing, mode: str = "effective") -> Settlement:
    """Settle a clearing at p_j of (11) (``dlmpa_eq11``) or at the effective price."""
    if mode not in ("dlmpa_eq11", "effective"):
        raise ValueError(f"rules.settlement: unknown mode {mode!r}")
    p_j = dlmpa(case, c)
    eff = effective_price(case, c)
    price = p_j if mode == "dlmpa_eq11" else eff
    cost = case.alpha * c.p**2 + case.beta * c.p
    residual = case.dpd - c.p
    with_tm = np.where(case.is_ela, price * c.p - cost,
                       reserve_price(case) * residual + price * c.p)
    return Settlement(price=price, dlmpa=p_j, effective=eff,
                      welfare_without=welfare_without_market(case), welfare_with=with_tm,
                      reserve_saved_mwh=float(c.p[case.is_ela].sum()),
                      congestion_rent=float(-(price * c.p).sum()))
