"""What a primary clearing takes and gives: agent bids, background load, clearing result."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class AgentBids:
    """Vectorised bids of the market agents, all in kW / kvar, load convention."""

    p0: np.ndarray
    p_min: np.ndarray
    p_max: np.ndarray
    q0: np.ndarray
    q_min: np.ndarray
    q_max: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    gen_max: np.ndarray

    @classmethod
    def fixed(cls, p0: np.ndarray, q0: np.ndarray | None = None, alpha: float = 0.0,
              beta: float = 0.0) -> AgentBids:
        p0 = np.asarray(p0, dtype=float)
        q0 = np.zeros_like(p0) if q0 is None else np.asarray(q0, dtype=float)
        z = np.zeros_like(p0)
        return cls(p0, p0.copy(), p0.copy(), q0, q0.copy(), q0.copy(), z + alpha, z + beta,
                   z.copy())

    @classmethod
    def flexible(cls, p0: np.ndarray, down: float | np.ndarray, up: float | np.ndarray = 0.0,
                 alpha: float | np.ndarray = 0.002, beta: float | np.ndarray = 0.004,
                 gen_max: float | np.ndarray = 0.0, q0: np.ndarray | None = None) -> AgentBids:
        """Bid around `p0` with `down`/`up` kW of flexibility (convenience for tests)."""
        p0 = np.asarray(p0, dtype=float)
        q0 = np.zeros_like(p0) if q0 is None else np.asarray(q0, dtype=float)
        one = np.ones_like(p0)
        return cls(p0, p0 - down * one, p0 + up * one, q0, q0.copy(), q0.copy(), alpha * one,
                   beta * one, gen_max * one)

    def __len__(self) -> int:
        return len(self.p0)


@dataclass
class Background:
    """Non-market load per bus [kW, kvar] (None: the feeder's nominal loads)."""

    p_kw: np.ndarray | None = None
    q_kvar: np.ndarray | None = None


@dataclass
class ClearingResult:
    """Outcome of one primary clearing (kW, kvar, pu, $/h, $/kWh)."""

    status: str
    agents: list[str]
    p_kw: np.ndarray  # cleared net load per agent
    q_kvar: np.ndarray
    p_load_kw: np.ndarray
    p_gen_kw: np.ndarray  # extra local generation dispatched
    buses: list[str]
    v_pu: np.ndarray
    pcc_p_kw: float
    pcc_q_kvar: float
    losses_kw: float
    dlmp: np.ndarray  # $/kWh per bus
    dlmp_q: np.ndarray
    components: dict[str, np.ndarray]  # energy, losses, voltage, congestion per bus
    branch_p_kw: np.ndarray
    branch_q_kvar: np.ndarray
    branch_i_pu: np.ndarray
    gap_kw: float  # fictitious losses of the relaxation
    gap_max_pu: float  # max v*l - (P^2+Q^2)
    exact: bool
    costs: dict[str, float]  # $/h: import, generation, disutility, voltage, losses, total
    objective: float
    solve_time_s: float
    decomposition_residual: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)
    grid_forming_p_kw: float = 0.0  # output of the grid-forming unit (0 without one)
    grid_forming_q_kvar: float = 0.0


def failed_result(status: str, bids: AgentBids, agents: list[str], buses: list[str],
                  n_branches: int, dt: float) -> ClearingResult:
    """A clearing without a solution: bids kept at their baseline, every number NaN."""
    nan_n = np.full(len(buses), np.nan)
    return ClearingResult(
        status=status, agents=agents, p_kw=bids.p0.copy(), q_kvar=bids.q0.copy(),
        p_load_kw=bids.p0.copy(), p_gen_kw=np.zeros(len(bids)), buses=buses,
        v_pu=nan_n, pcc_p_kw=float("nan"), pcc_q_kvar=float("nan"),
        losses_kw=float("nan"), dlmp=nan_n.copy(), dlmp_q=nan_n.copy(), components={},
        branch_p_kw=np.full(n_branches, np.nan), branch_q_kvar=np.full(n_branches, np.nan),
        branch_i_pu=np.full(n_branches, np.nan), gap_kw=float("nan"),
        gap_max_pu=float("nan"), exact=False, costs={k: float("nan") for k in (
            "import", "generation", "grid_forming", "disutility", "voltage", "losses",
            "total")},
        objective=float("nan"), solve_time_s=dt, grid_forming_p_kw=float("nan"),
        grid_forming_q_kvar=float("nan"),
    )
