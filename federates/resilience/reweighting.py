"""Attack mitigation by re-weighting the market's objective coefficients (seed eqs. (1)-(4)).

Market objective (1): sum_i (1/2 alpha_i P_Gi^2 + beta_i (P_Li - P_Li0)^2) + xi * losses.

    (2)  Delta = P_cc - Pbar_cc           scheduled (pre-attack) minus measured PCC import
    (3)  Z_i(delta_i) = 1 + RS_i Delta^T delta_i / (mu sum_j RS_j),   gamma_i = 1 / Z_i
    (4)  alphabar_i = gamma_ia alpha_i,  betabar_i = gamma_ib beta_i,
         xibar = ((sum_i gamma_ia + gamma_ib) / (2 n))^-1 xi

Sign convention (fixed here). `Delta` and the `delta_i` are vectors of PCC quantities
([P] or [P, Q], kW / kvar, *load convention*: positive = import). `delta_i` is agent i's
normalised flexibility direction: the change of PCC import that agent i can bring about
by using that flexibility, scaled to [-1, 0] per component:

    delta_ia = -G_i / max_j G_j    (G_i = spare upward generation of agent i, for alpha)
    delta_ib = -L_i / max_j L_j    (L_i = curtailable flexible load of agent i, for beta)

Both are <= 0 because more local generation or less load *lowers* the import. An attack
that raises the import gives Delta < 0, so Delta^T delta_i >= 0, Z_i >= 1 and gamma_i <= 1:
alpha and beta fall (cheaper local generation, cheaper demand response) and xi rises
(losses, i.e. imports from far away, cost more) -- the seed's intuition slide. Higher RS_i
gives a larger Z_i, a smaller gamma_i, so more resilient agents contribute more. With
Delta = 0 every gamma is 1 and nothing changes. `mu` [kW] sets the sensitivity.

On an islanded feeder (manager `watch: grid_forming`) the import is 0 and P_cc reads as the
grid-forming unit's output: Delta = scheduled - measured output, with the same signs (the
unit supplies what local generation and flexible load do not).

Guard: Z_i is clipped to >= z_min > 0 (an import far *below* schedule could drive it to or
below zero). With sum_j RS_j = 0 there is nobody to rely on and all gammas are 1.

`Mitigator` applies (3)-(4) once per market period. In 'incremental' mode (default) each
period's gammas multiply the factors in force -- integral action, so the import keeps
being pushed until Delta = 0, and the factors then stay put. In 'one_shot' mode the
gammas always apply to the baseline coefficients (the seed's single update). The xi factor
always follows (4) from the factors in force. With `side` = +1 (an attack that raised the
import) the factors are kept <= 1, with -1 >= 1: when the attack ends the import falls
below the reference, Delta > 0 unwinds the factors back to 1 and no further (`restored`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from federates.messages import AgentCoefficients, CoefficientUpdate


class ReweightConfig(BaseModel):
    """Re-weighting of the market's objective coefficients by resilience score (eq. 3)."""

    model_config = ConfigDict(extra="forbid")
    mu_kw: float = Field(
        5.0, gt=0, description="mu in eq. (3) [kW]: larger = gentler updates (Z_i - 1 scales "
        "as |Delta| / (mu n) for n equally scored agents).")
    z_min: float = Field(0.1, gt=0, description="Guard: Z_i is clipped to at least this value.")
    mode: Literal["incremental", "one_shot"] = Field(
        "incremental", description="incremental: a coefficient update per market period "
        "while the deviation lasts; one_shot: a single update sized for the whole deviation.")
    factor_min: float = Field(0.02, gt=0, description="Lower bound of cumulative factors.")
    factor_max: float = Field(50.0, gt=0, description="Upper bound of cumulative factors.")
    restore_tol: float = Field(
        0.02, gt=0, description="Factors within this of 1 count as back to baseline.")
    deadband_kw: float = Field(
        0.0, ge=0, description="|Delta| below this leaves the factors unchanged [kW]."
    )


def flexibility_direction(flex: Mapping[str, float]) -> dict[str, float]:
    """delta_i = -flex_i / max_j flex_j in [-1, 0]; all -1 when nobody reports flexibility."""
    top = max((max(float(v), 0.0) for v in flex.values()), default=0.0)
    if top <= 0:
        return {a: -1.0 for a in flex}
    return {a: -max(float(v), 0.0) / top for a, v in flex.items()}


def gammas(
    delta_pcc: float | Sequence[float],
    rs: Mapping[str, float],
    direction: Mapping[str, float | Sequence[float]],
    mu: float,
    z_min: float = 0.1,
) -> dict[str, float]:
    """Eq. (3): gamma_i = 1 / Z_i for every agent in `rs` (missing direction = -1)."""
    d = np.atleast_1d(np.asarray(delta_pcc, dtype=float))
    total = float(sum(max(v, 0.0) for v in rs.values()))
    if total <= 0:
        return {a: 1.0 for a in rs}
    out = {}
    for a, score in rs.items():
        di = np.atleast_1d(np.asarray(direction.get(a, -1.0), dtype=float))
        di = np.broadcast_to(di, d.shape)
        z = 1.0 + max(score, 0.0) * float(d @ di) / (mu * total)
        out[a] = 1.0 / max(z, z_min)
    return out


def xi_factor(gamma_alpha: Mapping[str, float], gamma_beta: Mapping[str, float]) -> float:
    """Eq. (4): xibar / xi = ((sum_i gamma_ia + gamma_ib) / (2 n))^-1."""
    n = len(gamma_alpha)
    if n == 0:
        return 1.0
    mean = (sum(gamma_alpha.values()) + sum(gamma_beta[a] for a in gamma_alpha)) / (2 * n)
    return 1.0 / mean


@dataclass
class Reweighting:
    gamma_alpha: dict[str, float]
    gamma_beta: dict[str, float]
    xi: float


def reweight(
    delta_pcc: float | Sequence[float],
    rs: Mapping[str, float],
    direction_alpha: Mapping[str, float | Sequence[float]],
    direction_beta: Mapping[str, float | Sequence[float]],
    mu: float,
    z_min: float = 0.1,
) -> Reweighting:
    """Eqs. (3)-(4) in one go: per-agent gammas for alpha and beta, and the xi factor."""
    ga = gammas(delta_pcc, rs, direction_alpha, mu, z_min)
    gb = gammas(delta_pcc, rs, direction_beta, mu, z_min)
    return Reweighting(ga, gb, xi_factor(ga, gb))


@dataclass
class Mitigator:
    """Keeps the coefficient factors in force and produces `CoefficientUpdate`s."""

    config: ReweightConfig = field(default_factory=ReweightConfig)
    factor_alpha: dict[str, float] = field(default_factory=dict)
    factor_beta: dict[str, float] = field(default_factory=dict)
    updates: int = 0
    side: int = 0  # +1: factors <= 1 (import-raising attack), -1: factors >= 1, 0: free

    @property
    def factor_xi(self) -> float:
        return xi_factor(self.factor_alpha, self.factor_beta)

    @property
    def active(self) -> bool:
        return any(abs(v - 1.0) > 1e-12 for v in (*self.factor_alpha.values(),
                                                   *self.factor_beta.values()))

    def restored(self) -> bool:
        """All factors back within `restore_tol` of 1."""
        tol = self.config.restore_tol
        return all(abs(v - 1.0) <= tol for v in (*self.factor_alpha.values(),
                                                 *self.factor_beta.values()))

    def reset(self) -> None:
        self.factor_alpha = {a: 1.0 for a in self.factor_alpha}
        self.factor_beta = {a: 1.0 for a in self.factor_beta}
        self.updates = 0
        self.side = 0

    def step(
        self,
        delta_pcc: float | Sequence[float],
        rs: Mapping[str, float],
        direction_alpha: Mapping[str, float | Sequence[float]] | None = None,
        direction_beta: Mapping[str, float | Sequence[float]] | None = None,
    ) -> Reweighting:
        """Apply one update for Delta = scheduled - measured; returns the new gammas."""
        cfg = self.config
        for a in rs:
            self.factor_alpha.setdefault(a, 1.0)
            self.factor_beta.setdefault(a, 1.0)
        if float(np.linalg.norm(np.atleast_1d(delta_pcc))) < cfg.deadband_kw:
            delta_pcc = 0.0
        rw = reweight(delta_pcc, rs, direction_alpha or {}, direction_beta or {}, cfg.mu_kw,
                      cfg.z_min)

        lo = 1.0 if self.side < 0 else cfg.factor_min
        hi = 1.0 if self.side > 0 else cfg.factor_max

        def fold(current: dict[str, float], g: dict[str, float]) -> None:
            for a, gi in g.items():
                base = current[a] if cfg.mode == "incremental" else 1.0
                current[a] = float(np.clip(base * gi, lo, hi))

        fold(self.factor_alpha, rw.gamma_alpha)
        fold(self.factor_beta, rw.gamma_beta)
        self.updates += 1
        return rw

    def message(self, time: float, reason: str = "") -> CoefficientUpdate:
        """Factors in force as a relative `CoefficientUpdate` (market multiplies its own)."""
        agents = [AgentCoefficients(agent=a, alpha=self.factor_alpha[a],
                                    beta=self.factor_beta[a]) for a in self.factor_alpha]
        return CoefficientUpdate(time=time, agents=agents, xi=self.factor_xi, reason=reason,
                                 relative=True)

    def apply(
        self, alpha: Mapping[str, float], beta: Mapping[str, float], xi: float
    ) -> tuple[dict[str, float], dict[str, float], float]:
        """Absolute coefficients from baseline ones (agents without a factor keep theirs)."""
        return ({a: v * self.factor_alpha.get(a, 1.0) for a, v in alpha.items()},
                {a: v * self.factor_beta.get(a, 1.0) for a, v in beta.items()},
                xi * self.factor_xi)
