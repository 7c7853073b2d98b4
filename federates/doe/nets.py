"""Trained networks as plain float64 numpy arrays (what the optimisation models embed).

A network with hidden widths h_1..h_k and linear output computes
``z_1 = relu(Wx_0 x + b_0)``, ``z_{i+1} = relu(Wz_i z_i + Wx_i x + b_i)`` and
``y = Wz_k z_k + Wx_k x + b_k``. An ICNN has every ``Wz >= 0`` (output layer included) and
free pass-through ``Wx``, so every output is convex in ``x``. An ordinary MLP has
``Wx_i = 0`` for ``i >= 1`` and free ``Wz``. The input and output scalers of training are
folded in exactly, so ``forward`` takes and returns physical units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Net:
    wx: list[np.ndarray]
    """Pass-through weights, one per layer (hidden layers, then output): (h_i, n_in)."""
    wz: list[np.ndarray]
    """Hidden-to-next weights, one per layer after the first: (h_{i+1}, h_i)."""
    b: list[np.ndarray]
    convex: bool

    @property
    def widths(self) -> list[int]:
        return [len(b) for b in self.b[:-1]]

    @property
    def n_in(self) -> int:
        return self.wx[0].shape[1]

    @property
    def n_out(self) -> int:
        return len(self.b[-1])

    def forward(self, x: np.ndarray, hidden: bool = False):
        """Outputs for inputs ``x`` (n, n_in) or (n_in,); with ``hidden`` also the z's."""
        x = np.asarray(x, float)
        z = np.maximum(x @ self.wx[0].T + self.b[0], 0.0)
        zs = [z]
        for wz, wx, b in zip(self.wz[:-1], self.wx[1:-1], self.b[1:-1], strict=True):
            z = np.maximum(z @ wz.T + x @ wx.T + b, 0.0)
            zs.append(z)
        y = z @ self.wz[-1].T + x @ self.wx[-1].T + self.b[-1]
        return (y, zs) if hidden else y

    def fold_scalers(self, mu_x: np.ndarray, sd_x: np.ndarray, mu_y: np.ndarray,
                     sd_y: np.ndarray) -> Net:
        """The same function on physical units: x_s = (x - mu_x)/sd_x, y = mu_y + sd_y*y_s.

        ``sd_y > 0`` keeps ``Wz >= 0`` (and convexity); the input map is affine.
        """
        if np.any(sd_y <= 0):
            raise ValueError("output scales must be positive to keep convexity")
        wx = [w / sd_x for w in self.wx]
        b = [bi - w @ (mu_x / sd_x) for bi, w in zip(self.b, self.wx, strict=True)]
        wz = list(self.wz)
        wz[-1] = wz[-1] * sd_y[:, None]
        wx[-1] = wx[-1] * sd_y[:, None]
        b[-1] = b[-1] * sd_y + mu_y
        return Net(wx, wz, b, self.convex)

    def fold_inputs(self, x_fixed: np.ndarray, free: np.ndarray) -> Net:
        """Fold the fixed inputs into the biases, keeping only columns ``free`` as inputs."""
        x_fixed = np.asarray(x_fixed, float).copy()
        x_fixed[free] = 0.0
        b = [bi + w @ x_fixed for bi, w in zip(self.b, self.wx, strict=True)]
        return Net([w[:, free] for w in self.wx], list(self.wz), b, self.convex)

    def min_wz(self) -> float:
        return float(min(w.min() for w in self.wz))

    def nnz(self) -> int:
        return int(sum(np.count_nonzero(w) for w in self.wx + self.wz))

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        out = {f"{prefix}wx{i}": w for i, w in enumerate(self.wx)}
        out |= {f"{prefix}wz{i}": w for i, w in enumerate(self.wz)}
        out |= {f"{prefix}b{i}": w for i, w in enumerate(self.b)}
        out[f"{prefix}convex"] = np.array(self.convex)
        return out

    @classmethod
    def from_arrays(cls, arr, prefix: str) -> Net:
        n = sum(1 for k in arr if k.startswith(f"{prefix}b"))
        return cls([np.asarray(arr[f"{prefix}wx{i}"], float) for i in range(n)],
                   [np.asarray(arr[f"{prefix}wz{i}"], float) for i in range(n - 1)],
                   [np.asarray(arr[f"{prefix}b{i}"], float) for i in range(n)],
                   bool(arr[f"{prefix}convex"]))


def interval_bounds(net: Net, lo: np.ndarray, hi: np.ndarray):
    """Pre-activation bounds of every layer over the input box (interval arithmetic)."""
    c, r = (hi + lo) / 2.0, (hi - lo) / 2.0
    out = []
    pre_c = net.wx[0] @ c + net.b[0]
    pre_r = np.abs(net.wx[0]) @ r
    out.append((pre_c - pre_r, pre_c + pre_r))
    for wz, wx, b in zip(net.wz, net.wx[1:], net.b[1:], strict=True):
        zl, zu = np.maximum(out[-1][0], 0.0), np.maximum(out[-1][1], 0.0)
        zc, zr = (zu + zl) / 2.0, (zu - zl) / 2.0
        pc = wz @ zc + wx @ c + b
        pr = np.abs(wz) @ zr + np.abs(wx) @ r
        out.append((pc - pr, pc + pr))
    return out
