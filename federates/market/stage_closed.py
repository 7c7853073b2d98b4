"""Stages 3-4 of the secondary markets (P only, one price per SMO) in closed form.

Per SMO, in scaled kW, with deviations d_j in [lo_j, hi_j], balance sum_j d_j = D, the stage-1
ball sum_j d_j^2 / rs_j <= R1 and the band g_j(d) = min(d - lo_j, hi_j - d) (the best f_j for
a given d; concave, peaking at m_j = (lo_j + hi_j) / 2):
  stage 3: max sum_j g_j(d_j)               s.t. balance, ball;
  stage 4: min sum_j w_j d_j^2 (w = sbeta^2)  s.t. balance, ball, sum_j g_j(d_j) >= F3.
For multipliers (kappa on the band, w on d^2, nu on the balance) every agent's maximiser of
kappa g(d) - w d^2 - nu d is the clipped median  d = clip(median(s(t - kappa), m, s(t + kappa)),
lo, hi) with s = 1/(2w), t = -nu: piecewise linear and non-decreasing in t. `_balance` finds t
exactly (bisection over the sorted breakpoints, then interpolation on the bracketing linear
piece), and one monotone 1-D search (`_illinois`, regula falsi) finds the multiplier that
makes the binding constraint tight. Stage 3: kappa = 1, w = lambda / rs (ball multiplier), or
lambda = 0 when the least-ball flexibility maximiser fits in the ball. Stage 4 tries the
relaxations in turn (no constraint, band only, ball only); one whose optimum satisfies the
other constraint is optimal. SMOs left (both constraints binding, or a failed check) are
solved by Clarabel on their agents only. All SMOs are handled at once on a padded
(n_smo x max agents) layout.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from federates.market.stage_qp import ClarabelStages

Search = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
BISECT = 5  # bisection steps on [-span, span] before regula falsi
TOL = 1e-8  # relative tolerance on the binding constraint
PER_SMO = ("dtot", "qtot", "rb1", "rb4", "b2", "b3")


def _respond(t: np.ndarray, kappa: np.ndarray, s: np.ndarray, lo: np.ndarray, hi: np.ndarray,
             m: np.ndarray) -> np.ndarray:
    """Agents' maximisers of kappa g(d) - d^2 / (2s) + t d (rows: SMOs; t, kappa: (r, 1))."""
    d = np.minimum(np.maximum(m, s * (t - kappa)), s * (t + kappa))
    return np.minimum(np.maximum(d, lo, out=d), hi, out=d)


def _balance(kappa: np.ndarray, s: np.ndarray, lo: np.ndarray, hi: np.ndarray, m: np.ndarray,
             total: np.ndarray) -> np.ndarray:
    """`_respond` at the t where each row sums to `total` (exact: linear between breakpoints)."""
    r = np.arange(lo.shape[0])
    # d rises from lo to m for t in [lo/s - kappa, m/s - kappa], from m to hi on [m/s + kappa,
    # hi/s + kappa], and is constant elsewhere
    bp = np.concatenate([lo / s - kappa, m / s - kappa, m / s + kappa, hi / s + kappa], axis=1)
    bp.sort(axis=1)
    ia = np.zeros(len(r), dtype=int)
    ib = np.full(len(r), bp.shape[1] - 1)
    while True:
        open_ = ib - ia > 1
        if not open_.any():
            break
        mid = (ia + ib) // 2
        low = _respond(bp[r, mid][:, None], kappa, s, lo, hi, m).sum(axis=1) < total
        ia = np.where(open_ & low, mid, ia)
        ib = np.where(open_ & ~low, mid, ib)
    da = _respond(bp[r, ia][:, None], kappa, s, lo, hi, m)
    db = _respond(bp[r, ib][:, None], kappa, s, lo, hi, m)
    sa, gap = da.sum(axis=1), db.sum(axis=1) - da.sum(axis=1)
    theta = np.clip((total - sa) / np.where(gap > 0, gap, 1.0), 0.0, 1.0) * (gap > 0)
    return da + theta[:, None] * (db - da)


def _illinois(h: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], xa: np.ndarray,
              xb: np.ndarray, fa: np.ndarray, da: np.ndarray, fb: np.ndarray,
              tol: np.ndarray) -> np.ndarray:
    """Per row, the point at the feasible end (h <= 0) of a bracket [xa, xb] of the root of
    the non-decreasing h (fa = h(xa) <= 0 < fb = h(xb), da the point at xa), once -tol <= h
    there: a few bisection steps, then regula falsi with the Illinois rule aimed at
    h = -tol/2 (so both ends converge into the accepted band)."""
    for _ in range(BISECT):  # regula falsi is slow while the bracket is wide
        x = 0.5 * (xa + xb)
        fx, dx = h(x)
        left = fx <= 0
        xa, fa, da = np.where(left, x, xa), np.where(left, fx, fa), np.where(left[:, None], dx, da)
        xb, fb = np.where(left, xb, x), np.where(left, fb, fx)
    ga, gb = fa + 0.5 * tol, fb + 0.5 * tol  # secant values (halved by the Illinois rule)
    last = np.zeros(len(xa), dtype=int)
    for _ in range(100):
        done = (fa >= -tol) | (xb - xa <= 1e-14 * (1.0 + np.abs(xa)))
        if done.all():
            break
        x = xa - ga * (xb - xa) / (gb - ga)
        x = np.where((x > xa) & (x < xb), x, 0.5 * (xa + xb))
        fx, dx = h(x)
        up_a, up_b = (fx <= 0) & ~done, (fx > 0) & ~done
        gb = np.where(up_a & (last == -1), 0.5 * gb, gb)
        ga = np.where(up_b & (last == 1), 0.5 * ga, ga)
        gx = fx + 0.5 * tol
        xa, fa, ga = np.where(up_a, x, xa), np.where(up_a, fx, fa), np.where(up_a, gx, ga)
        xb, fb, gb = np.where(up_b, x, xb), np.where(up_b, fx, fb), np.where(up_b, gx, gb)
        da = np.where(up_a[:, None], dx, da)
        last = np.where(up_a, -1, np.where(up_b, 1, last))
    return da


class ClosedStages:
    """Closed-form stages 3-4 for a fixed agent layout (`smo[j]` = SMO of agent j)."""

    def __init__(self, smo: np.ndarray, n_smo: int):
        self.smo = np.asarray(smo, dtype=int)
        self.ns, self.na = n_smo, len(self.smo)
        counts = np.bincount(self.smo, minlength=n_smo)
        self.K = max(int(counts.max(initial=1)), 1)
        order = np.argsort(self.smo, kind="stable")
        start = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self.col = np.empty(self.na, dtype=int)
        self.col[order] = np.arange(self.na) - start[self.smo[order]]
        self.d3 = np.zeros(self.na)  # stage 3's point (kept by SMOs whose betas are all 0)
        self.fallback_smos = 0  # SMOs solved by Clarabel in the last call
        self.cases = (0, 0, 0, 0)  # stage 4: SMOs tried by relaxation (a), (b), (c), left (d)

    def _pad(self, x: np.ndarray, fill: float = 0.0) -> np.ndarray:
        out = np.full((self.ns, self.K), fill)
        out[self.smo, self.col] = x
        return out

    def waterfill(self, rs: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                  total: np.ndarray) -> np.ndarray:
        """Exact argmin of sum_j d_j^2 / rs_j s.t. sum_j d_j = total (per SMO), lo <= d <= hi:
        d_j = clip(t rs_j, lo_j, hi_j) with t solved for on its linear piece."""
        lo_, hi_ = self._pad(lo), self._pad(hi)
        d = _balance(np.zeros((self.ns, 1)), self._pad(rs, 1.0), lo_, hi_, lo_, total)
        return d[self.smo, self.col]

    def solve(self, stage: int, v: dict[str, np.ndarray]) -> tuple[str, np.ndarray]:
        """Stage 3 (`stage` = 2) or 4 (`stage` = 3) with the values `v` (as ClarabelStages,
        P only); returns (status, x = [d, f])."""
        lo, hi = self._pad(v["lo"]), self._pad(v["hi"])
        m = 0.5 * (lo + hi)
        rs = self._pad(1.0 / v["sw1"] ** 2, 1.0)
        total, r1 = v["dtot"], v["rb1"] ** 2

        def ball(d: np.ndarray, k: slice | np.ndarray = slice(None)) -> np.ndarray:
            return (d ** 2 / rs[k]).sum(axis=1)

        def band(d: np.ndarray, k: slice | np.ndarray = slice(None)) -> np.ndarray:
            return np.minimum(d - lo[k], hi[k] - d).sum(axis=1)

        if stage == 2:
            d, ok = self._flexibility(lo, hi, m, rs, total, r1, ball)
            f3 = -np.inf
        else:
            f3 = -v["b3"]
            d, ok = self._disutility(lo, hi, m, rs, self._pad(v["sbeta"] ** 2), total, r1, f3,
                                     ball, band)
        # the point must keep every bound (up to round-off), else Clarabel solves the SMO
        ok &= np.abs(d.sum(axis=1) - total) <= 1e-9 * (1.0 + np.abs(total))
        ok &= np.all((d >= lo - 1e-12) & (d <= hi + 1e-12), axis=1)
        ok &= ball(d) <= r1 * (1 + 1e-9) + 1e-15
        ok &= band(d) >= f3 - 1e-9 * (1.0 + np.abs(f3))
        dp = np.clip(d[self.smo, self.col], v["lo"], v["hi"])
        status = "optimal"
        bad = np.flatnonzero(~ok)
        self.fallback_smos = len(bad)
        if len(bad):
            status, dp = self._clarabel(stage, v, bad, dp)
        fp = np.maximum(np.minimum(dp - v["lo"], v["hi"] - dp), 0.0)
        if stage == 2:
            self.d3 = dp.copy()
        return status, np.concatenate([dp, fp])

    def _flexibility(self, lo, hi, m, rs, total, r1, ball) -> tuple[np.ndarray, np.ndarray]:
        """Stage 3: (d, ok) per SMO."""
        below = (total <= m.sum(axis=1))[:, None]  # flexibility maximisers stay on one side of m
        zero = np.zeros((self.ns, 1))
        d = _balance(zero, rs, np.where(below, lo, m), np.where(below, m, hi), m, total)
        ok = np.ones(self.ns, dtype=bool)
        rows = np.flatnonzero(ball(d) > r1)  # ball binding: lambda > 0
        if len(rows):
            lo_, hi_, m_, rs_, tot_, r1_ = (x[rows] for x in (lo, hi, m, rs, total, r1))
            one = np.ones((len(rows), 1))

            def h(x: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                dd = _balance(one[k], rs_[k] * np.exp(x)[:, None], lo_[k], hi_[k], m_[k], tot_[k])
                return (dd ** 2 / rs_[k]).sum(axis=1) - r1_[k], dd

            d[rows], ok[rows] = self._search(h, 25.0, TOL * r1_ + 1e-16)
        return d, ok

    def _disutility(self, lo, hi, m, rs, w, total, r1, f3, ball, band,
                    ) -> tuple[np.ndarray, np.ndarray]:
        """Stage 4: (d, ok) per SMO; SMOs whose agents all have beta = 0 keep stage 3's point."""
        wmax = w.max(axis=1, keepdims=True)
        keep = wmax[:, 0] <= 0
        d = self._pad(self.d3)
        ok = np.ones(self.ns, dtype=bool)
        # (a) neither the ball nor the band binds (beta = 0 agents: tiny weight, any is optimal)
        rows = np.flatnonzero(~keep)
        self.cases = (len(rows), 0, 0, 0)
        wf = np.maximum(w, 1e-9 * wmax)[rows]
        lo_, hi_, m_, rs_, tot_, r1_, f3_ = (x[rows] for x in (lo, hi, m, rs, total, r1, f3))
        zero = np.zeros((len(rows), 1))
        d[rows] = _balance(zero, 0.5 / wf, lo_, hi_, m_, tot_)
        todo = rows[(ball(d[rows], rows) > r1_) | (band(d[rows], rows) < f3_)]
        # (b) only the band binds (multiplier kappa), (c) only the ball binds (lambda): both
        # searched at once (rows todo + todo), each multiplier = exp(scale - x)
        n = len(todo)
        if n:
            both = np.concatenate([todo, todo])
            isb = (np.arange(2 * n) < n)[:, None]
            lo_, hi_, m_, rs_, tot_, r1_, f3_ = (x[both] for x in (lo, hi, m, rs, total, r1, f3))
            w_ = np.maximum(w, 1e-9 * wmax)[both]
            scale = np.log(np.where(isb[:, 0], 2.0, rs_.max(axis=1)) * w_.max(axis=1))

            def h(x: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                e, b = np.exp(scale[k] - x)[:, None], isb[k]
                dd = _balance(np.where(b, e, 0.0), 0.5 / (w_[k] + np.where(b, 0.0, e / rs_[k])),
                              lo_[k], hi_[k], m_[k], tot_[k])
                short = f3_[k] - np.minimum(dd - lo_[k], hi_[k] - dd).sum(axis=1)
                return np.where(b[:, 0], short, (dd ** 2 / rs_[k]).sum(axis=1) - r1_[k]), dd

            tol = np.where(isb[:, 0], TOL * (1.0 + np.abs(f3_)), TOL * r1_ + 1e-16)
            dd, found = self._search(h, 30.0, tol)
            okb = found[:n] & (ball(dd[:n], todo) <= r1_[:n])
            okc = found[n:] & (band(dd[n:], todo) >= f3_[:n])
            d[todo] = np.where(okb[:, None], dd[:n], dd[n:])
            ok[todo] = okb | okc
            self.cases = (len(rows), n, int(np.sum(~okb)), int(np.sum(~okb & ~okc)))
        # (d) both bind: left to Clarabel
        return d, ok

    @staticmethod
    def _search(h: Search, span: float, tol: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Feasible end of the root bracket of h(x, rows) on [-span, span] per row; ok = the
        bracket is valid (h(-span) <= 0)."""
        n = len(tol)
        every = np.arange(n)
        fa, da = h(np.full(n, -span), every)
        fb, db = h(np.full(n, span), every)
        d = np.where((fb <= 0)[:, None], db, da)
        inner = np.flatnonzero((fa <= 0) & (fb > 0))
        if len(inner):
            d[inner] = _illinois(lambda x: h(x, inner), np.full(len(inner), -span),
                                 np.full(len(inner), span), fa[inner], da[inner], fb[inner],
                                 tol[inner])
        return d, fa <= 0

    def _clarabel(self, stage: int, v: dict[str, np.ndarray], rows: np.ndarray,
                  dp: np.ndarray) -> tuple[str, np.ndarray]:
        """Solve the SMOs `rows` with Clarabel (on their agents only) into `dp`."""
        new = np.full(self.ns, -1)
        new[rows] = np.arange(len(rows))
        agents = np.flatnonzero(new[self.smo] >= 0)
        sub = {k: x[rows] if k in PER_SMO else x[agents] for k, x in v.items()}
        status, x = ClarabelStages(new[self.smo[agents]], len(rows), False).solve(stage, sub)
        if status.startswith("optimal"):
            dp = dp.copy()
            dp[agents] = x[:len(agents)]
        return status, dp
