"""Consumer markets below the SMOs: each configured SMO clears its houses by the
Stackelberg game of `consumer` after its secondary clearing.

Injection convention inside the game: a house's baseline is -(its bid baseline load), its
band reaches -(its lowest load); the SMO's target is -(its cleared secondary total) and pi
its dLMP. The houses' best responses become their setpoints; per SMO the dispatch records
mu (`price`), mu~ (`price_deviation`) and the tracking error (cleared total minus the
houses' responses, load convention).
"""

from __future__ import annotations

import numpy as np

from federates.market import consumer
from federates.market.secondary import SecondaryResult
from federates.messages import FlexibilityBid


def clear_smo_consumer_markets(smos: list[str], counts: np.ndarray,
                               bids: list[FlexibilityBid], res: SecondaryResult,
                               price: np.ndarray, chosen: set[str], gamma: float,
                               ) -> tuple[np.ndarray, list[str], dict[str, np.ndarray]]:
    """(agents' setpoints [kW load], SMOs cleared, their dispatch columns)."""
    p_kw = res.p_kw.copy()
    cols: dict[str, list[float]] = {k: [] for k in (
        "p0_kw", "p_min_kw", "p_max_kw", "p_kw", "q_kvar", "price", "agents",
        "price_deviation", "tracking_error_kw")}
    names: list[str] = []
    end = 0
    for i, (s, n) in enumerate(zip(smos, counts.tolist(), strict=True)):
        start, end = end, end + n
        b = bids[i]
        p0 = -np.asarray(b.agent_p0_kw, dtype=float)
        if s not in chosen or n == 0 or abs(p0.sum()) < 1e-9:
            continue
        band = -np.asarray(b.agent_p_min_kw, dtype=float)
        cm = consumer.clear(p0, band, np.full(n, gamma), -float(res.smo_p_kw[i]),
                            float(price[i]))
        p_kw[start:end] = -cm.p_kw
        names.append(s)
        for key, value in (("p0_kw", -p0.sum()), ("p_min_kw", sum(b.agent_p_min_kw)),
                           ("p_max_kw", sum(b.agent_p_max_kw)), ("p_kw", -cm.p_kw.sum()),
                           ("q_kvar", res.smo_q_kvar[i]), ("price", cm.mu), ("agents", n),
                           ("price_deviation", cm.mu_dev),
                           ("tracking_error_kw", -cm.shortfall_kw)):
            cols[key].append(float(value))
    arrays = {k: np.array(v) for k, v in cols.items()}
    arrays["agents"] = arrays["agents"].astype(int)
    return p_kw, names, arrays
