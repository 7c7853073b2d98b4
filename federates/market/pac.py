"""PAC and NST-PAC: distributed clearing of the atomised primary market (spec B, L1479-1537).

Proximal atomic coordination (PAC, a predictor-corrector proximal multiplier method) on
`atoms.AtomisedMarket` (one atom per bus). Per iteration tau every atom j, in parallel:

PAC
  a_j   <- argmin_{a_j in H_j} f_j + eta^_j.(G_j a_j - b_j) + nu^.B^j a_j
                               + 1/(2 rho) |a_j - a_j[tau]|^2
  eta_j <- eta_j + rho gamma_j (G_j a_j - b_j);   eta^_j <- eta_j + rho gamma_j (G_j a_j - b_j)
  send a_j (the entries its neighbours copy)
  nu_j  <- nu_j + rho gamma_j [B]_j a;            nu^_j  <- nu_j + rho gamma_j [B]_j a
  send nu^_j (to the atoms whose entries its rows copy)
NST-PAC (Nesterov momentum on the duals, optionally on the primal, with restart)
  a_j   <- argmin f_j + eta^_j.(G_j a_j - b_j) + nu^.B^j a_j + rho gamma_j / 2 |G_j a_j - b_j|^2
                 + rho gamma_j / 2 |B_j a_j|^2 + 1/(2 rho) |a_j - a_j[tau]|^2
           (|B_j a_j|^2 with the neighbours' entries fixed at their last a^)
  a^_j  <- a_j + alpha (a_j - a_j[tau])
  eta_j <- eta^_j + rho gamma_j (G_j a^_j - b_j);  eta^_j <- eta_j + phi (eta_j - eta_j[tau])
  send a^_j
  nu_j  <- nu^_j + rho gamma_j B_j a^;             nu^_j <- nu_j + theta (nu_j - nu_j[tau])
  send nu^_j
Decisions (spec B DECIDE, the seed defines none of these): gamma^ = gamma; alpha = phi =
theta from the Nesterov sequence t+ = (1 + sqrt(1 + 4 t^2)) / 2, momentum (t - 1) / t+,
restarted (t = 1, extrapolation from the last iterate) when the combined step stops
shrinking by 0.1 % (Goldstein, O'Donoghue, Setzer, Baraniuk 2014); scalar rho and
gamma from the config; "private" mode draws gamma_j[tau] ~ U[0.5, 1.5] gamma per atom
and iteration. The dLMP of bus j is eta_j of its P balance; eta never leaves its atom.

Departure from the seed: the primal momentum (alpha) is off by default
(`primal_momentum`): with it, NST-PAC diverged on the 4-bus toy at every step size tried
(rho in [0.15, 0.3], gamma in [0.5, 1]); with the multipliers' momentum alone it converges.

All atoms' primal steps are solved as one cvxpy problem per iteration: the atoms' problems
are independent (block-diagonal G, separable objective and sets), so this equals solving
them one by one. Messages between atoms are recorded per iteration in `Exchange`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import cvxpy as cp
import numpy as np

from federates.market.atoms import AtomisedMarket


@dataclass
class PacSettings:
    """Step sizes and stopping rule (per unit problem)."""

    method: str = "pac"  # "pac" | "nst_pac"
    rho: float = 0.3
    gamma: float = 1.0
    max_iterations: int = 5000
    tol: float = 1e-5  # stop when primal and consensus residuals are below [pu]
    private: bool = False
    seed: int = 0
    momentum: bool = True  # NST-PAC without it: the plain augmented (Jacobi) iteration
    primal_momentum: bool = False  # True: also extrapolate the primal (alpha > 0)


@dataclass
class Exchange:
    """What crossed atom boundaries in one iteration: (kind, sender, receiver) arrays."""

    kinds: list[str] = field(default_factory=list)
    senders: list[np.ndarray] = field(default_factory=list)
    receivers: list[np.ndarray] = field(default_factory=list)
    values: list[np.ndarray] = field(default_factory=list)

    def send(self, kind: str, sender: np.ndarray, receiver: np.ndarray,
             value: np.ndarray) -> np.ndarray:
        cross = sender != receiver
        self.kinds.append(kind)
        self.senders.append(sender[cross])
        self.receivers.append(receiver[cross])
        self.values.append(np.asarray(value)[cross])
        return value


@dataclass
class PacResult:
    """One distributed clearing and its distance to the central solve."""

    method: str
    iterations: int
    converged: bool
    a: np.ndarray
    dlmp: np.ndarray  # $/kWh per bus (eta of the P balances)
    objective: float  # per unit
    primal_residual: np.ndarray  # |G a - b|_inf per iteration [pu]
    consensus_residual: np.ndarray  # |B a|_inf per iteration [pu]
    objective_gap: float = float("nan")  # |f - f*| / |f*|
    dlmp_gap: float = float("nan")  # max |dLMP - dLMP*| [$/kWh]
    solve_time_s: float = 0.0
    last_exchange: Exchange | None = None


class PacSolver:
    """Iterates PAC / NST-PAC on an atomised market."""

    def __init__(self, market: AtomisedMarket, settings: PacSettings | None = None):
        self.mkt = market
        self.s = settings or PacSettings()
        if self.s.method not in ("pac", "nst_pac"):
            raise ValueError(f"primary.solver: unknown distributed method {self.s.method!r}")
        lay = market.layout
        self.G, self.B, self.b = lay.G, lay.B, lay.b
        self.Sc, self.So = lay.Sc, lay.So
        self.Gt, self.Bt = self.G.T.tocsr(), self.B.T.tocsr()
        self.rng = np.random.default_rng(self.s.seed)
        self.n_atoms = market.net.n
        self._build()

    def _build(self) -> None:
        N = self.mkt.layout.size
        a = cp.Variable(N)
        self.a = a
        self.lin = cp.Parameter(N)  # G^T eta^ + B^T nu^ (each entry: its own atom's term)
        self.a_prev = cp.Parameter(N)  # scaled: sqrt(1 / (2 rho)) a[tau]
        w = np.sqrt(1.0 / (2.0 * self.s.rho))
        obj = (self.mkt.objective(a) + self.lin @ a + cp.sum_squares(w * a - self.a_prev))
        if self.s.method == "nst_pac":
            R, M = self.G.shape[0], self.B.shape[0]
            self.wg = cp.Parameter(R, nonneg=True)  # sqrt(rho gamma_j / 2) per local row
            self.wb_own = cp.Parameter(M, nonneg=True)
            self.wb_nbr = cp.Parameter(M, nonneg=True)
            # weighted neighbours' originals / copies at their last a^, weighted b
            self.orig_hat = cp.Parameter(M)
            self.copy_hat = cp.Parameter(M)
            self.wg_b = cp.Parameter(R)
            obj += (cp.sum_squares(cp.multiply(self.wg, self.G @ a) - self.wg_b)
                    + cp.sum_squares(cp.multiply(self.wb_own, self.Sc @ a) - self.orig_hat)
                    + cp.sum_squares(self.copy_hat - cp.multiply(self.wb_nbr, self.So @ a)))
        self.problem = cp.Problem(cp.Minimize(obj), self.mkt.local_sets(a))

    def _gammas(self) -> np.ndarray:
        g = np.full(self.n_atoms, self.s.gamma)
        if self.s.private:
            g = g * self.rng.uniform(0.5, 1.5, self.n_atoms)
        return g

    def run(self, reference: tuple[np.ndarray, float, np.ndarray] | None = None,
            a0: np.ndarray | None = None) -> PacResult:
        """Iterate until both residuals are below `tol` (or `max_iterations`)."""
        lay, s = self.mkt.layout, self.s
        N, R, M = lay.size, self.G.shape[0], self.B.shape[0]
        rho = s.rho
        a = np.zeros(N) if a0 is None else a0.copy()
        v_block = lay.sl["v"]
        a[v_block] = self.mkt.net.v_source_pu ** 2 if a0 is None else a[v_block]
        a[lay.sl["vp"]] = self.mkt.net.v_source_pu ** 2 if a0 is None else a[lay.sl["vp"]]
        a_hat = a.copy()
        eta, nu = np.zeros(R), np.zeros(M)
        # every atom starts from the public PCC price on its P balance
        eta[lay.bal_p_rows] = self.mkt.c_imp
        eta_hat, nu_hat = eta.copy(), nu.copy()
        t_k, c_prev = 1.0, np.inf
        prim, cons = [], []
        ex = Exchange()
        t0 = time.perf_counter()
        converged = False
        done = 0
        for it in range(1, s.max_iterations + 1):
            done = it
            g_atom = self._gammas()
            g_loc = rho * g_atom[lay.g_owner]  # step per local row (its atom's)
            g_con = rho * g_atom[lay.b_owner]  # step per consensus row (copy's atom)
            self.lin.value = self.Gt @ eta_hat + self.Bt @ nu_hat
            self.a_prev.value = np.sqrt(1.0 / (2.0 * rho)) * a
            if s.method == "nst_pac":
                self.wg.value = np.sqrt(g_loc / 2.0)
                self.wg_b.value = self.wg.value * self.b
                self.wb_own.value = np.sqrt(g_con / 2.0)
                self.wb_nbr.value = np.sqrt(rho * g_atom[lay.b_neighbour] / 2.0)
                self.orig_hat.value = self.wb_own.value * (self.So @ a_hat)
                self.copy_hat.value = self.wb_nbr.value * (self.Sc @ a_hat)
            self.problem.solve(solver=cp.CLARABEL)
            if self.problem.status not in ("optimal", "optimal_inaccurate"):
                break
            a_new = np.asarray(self.a.value)
            ex = Exchange()
            if s.method == "pac":
                loc = self.G @ a_new - self.b
                eta = eta + g_loc * loc
                eta_hat = eta + g_loc * loc
                # neighbours' originals sent to the copies' atoms
                ex.send("primal", lay.b_neighbour, lay.b_owner, self.So @ a_new)
                con = self.B @ a_new
                nu = nu + g_con * con
                nu_hat = ex.send("consensus_dual", lay.b_owner, lay.b_neighbour,
                                 nu + g_con * con)
                a = a_new
            else:
                t_next = (1.0 + np.sqrt(1.0 + 4.0 * t_k ** 2)) / 2.0
                mom = (t_k - 1.0) / t_next if s.momentum else 0.0
                a_ext = a_new + (mom if s.primal_momentum else 0.0) * (a_new - a)
                eta_new = eta_hat + g_loc * (self.G @ a_ext - self.b)
                nu_new = nu_hat + g_con * (self.B @ a_ext)
                # restart (Goldstein et al.'s fast ADMM): when the combined step from the
                # extrapolated point stops shrinking, extrapolate from the last iterate
                c_k = (float(np.sum((eta_new - eta_hat) ** 2) + np.sum((nu_new - nu_hat) ** 2))
                       + float(np.sum((a_new - a_hat) ** 2)))
                if c_k > 0.999 * c_prev:  # the plain step that follows is always taken
                    t_next, c_k = 1.0, np.inf
                    a_hat, eta_hat, nu_hat_new = a, eta, nu
                    a_new, eta_new, nu_new = a, eta, nu
                else:
                    a_hat = a_ext
                    eta_hat = eta_new + mom * (eta_new - eta)
                    nu_hat_new = nu_new + mom * (nu_new - nu)
                c_prev = c_k
                ex.send("primal", lay.b_neighbour, lay.b_owner, self.So @ a_hat)
                nu_hat = ex.send("consensus_dual", lay.b_owner, lay.b_neighbour, nu_hat_new)
                eta, nu, a = eta_new, nu_new, a_new
                t_k = t_next
            p_res = float(np.max(np.abs(self.G @ a - self.b)))
            c_res = float(np.max(np.abs(self.B @ a)))
            prim.append(p_res)
            cons.append(c_res)
            if p_res <= s.tol and c_res <= s.tol:
                converged = True
                break
        dt = time.perf_counter() - t0
        f = self.mkt.objective_value(a)
        out = PacResult(method=s.method, iterations=done, converged=converged, a=a,
                        dlmp=eta[lay.bal_p_rows].copy(), objective=f,
                        primal_residual=np.array(prim), consensus_residual=np.array(cons),
                        solve_time_s=dt, last_exchange=ex)
        if reference is not None:
            _, f_ref, lam_ref = reference
            out.objective_gap = abs(f - f_ref) / max(abs(f_ref), 1e-12)
            out.dlmp_gap = float(np.max(np.abs(out.dlmp - lam_ref)))
        return out
