"""BS x HP sensitivity grid of the static HC (spec A.8 "Sensitivity"), nominal and worst case.

Every grid point reruns the static search with the given battery share (of peak load) and
heat-pump share (of homes); the PV sequence is the same at every point (it is drawn before
the devices). Reported: the grid, mean slopes dHC/dBS and dHC/dHP, and the cross-difference
HC(+BS,+HP) - HC(+BS) - HC(+HP) + HC(0) between the grid's corners (> 0: complements,
< 0: substitutes).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from runner.studies.hosting_capacity.config import Config
from runner.studies.hosting_capacity.montecarlo import setup
from runner.studies.hosting_capacity.search import static_hc


def bs_hp_grid(cfg: Config, seed: int) -> pd.DataFrame:
    """Static HC [%] for every (variant, bs_share, hp_share) of the grid."""
    rows = []
    for variant in ("nominal", "worst_case"):
        for bs in cfg.sensitivity_shares:
            for hp in cfg.sensitivity_shares:
                c = cfg.model_copy(update={"variant": variant, "bs_share": bs, "hp_share": hp})
                ctx, base, day, _, place = setup(c, seed)
                res = static_hc(ctx, place, day)
                rows.append({"variant": variant, "bs_share": bs, "hp_share": hp,
                             "static_hc_pct": 100 * res.pv_kw / base})
    return pd.DataFrame(rows)


def summarise(grid: pd.DataFrame) -> dict[str, Any]:
    """Mean slopes [% HC per % share] and the corner cross-difference per variant."""
    out: dict[str, Any] = {}
    for variant, g in grid.groupby("variant"):
        tab = g.pivot(index="bs_share", columns="hp_share", values="static_hc_pct")
        shares = tab.index.to_numpy()
        if len(shares) < 2:
            continue
        hc = tab.to_numpy()
        d_bs = np.gradient(hc, shares * 100, axis=0).mean()
        d_hp = np.gradient(hc, tab.columns.to_numpy() * 100, axis=1).mean()
        cross = hc[-1, -1] - hc[-1, 0] - hc[0, -1] + hc[0, 0]
        out[str(variant)] = {"slope_bs": float(d_bs), "slope_hp": float(d_hp),
                             "cross_difference": float(cross)}
    return out
