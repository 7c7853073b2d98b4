"""The four surrogates (loss L, voltage V, current I, line power P) and the penalty layer.

Targets (15): ``y_L = P_loss``, ``y_V = [V; -V]``, ``y_I = I``, ``y_P = -P`` (monitored lines).
Thresholds (18): ``c_V = [V_max; -V_min]``, ``c_I = I_max``, ``c_P = P_rev``. The limits enter
only the penalty layer ``rho_m = 1'[y_m - c_m]+`` after the networks, so new limits need no
retraining. The set is saved as a versioned artefact: ``<name>.npz`` (float64 weights) and
``<name>.json`` (command, seed, data hash, widths, NMAE).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from federates.doe.case import Limits, Weights
from federates.doe.nets import Net

KEYS = ("L", "V", "I", "P")
WIDTHS = {"L": [128, 64], "V": [256, 256, 128, 128], "I": [256, 256, 128, 64], "P": [128, 64]}
"""Hidden widths of Table II."""
FORMAT_VERSION = 1


def targets(y: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Surrogate targets (15) from measured outputs L, V, I, P."""
    return {"L": y["L"], "V": np.hstack([y["V"], -y["V"]]), "I": y["I"], "P": -y["P"]}


def thresholds(limits: Limits, n_v: int, n_i: int, n_p: int) -> dict[str, np.ndarray]:
    """Penalty thresholds c_m (18), tightened by the relative margin δ."""
    vmin, vmax = limits.v_band
    imax = limits.i_max_a * (1.0 - limits.margin)
    prev = limits.p_rev_kw * (1.0 - limits.margin)
    return {"V": np.r_[np.full(n_v, vmax), np.full(n_v, -vmin)], "I": np.full(n_i, imax),
            "P": np.full(n_p, prev)}


def penalty_weights(w: Weights) -> dict[str, float]:
    return {"V": w.gamma_v, "I": w.gamma_i, "P": w.gamma_p}


def nmae_bases(limits: Limits, s_base_kva: float) -> dict[str, float]:
    """NMAE bases: 1 pu, substation kVA, line rating (spec §6)."""
    return {"L": s_base_kva, "V": 1.0, "I": limits.i_max_a, "P": s_base_kva}


@dataclass
class SurrogateSet:
    """Four networks of one kind (ICNN or MLP) plus their output names and metadata."""

    nets: dict[str, Net]
    v_names: list[str]
    i_names: list[str]
    meta: dict = field(default_factory=dict)

    @property
    def n_v(self) -> int:
        return len(self.v_names)

    def thresholds(self, limits: Limits) -> dict[str, np.ndarray]:
        return thresholds(limits, self.n_v, len(self.i_names), self.nets["P"].n_out)

    def penalties(self, x: np.ndarray, limits: Limits, weights: Weights) -> dict[str, float]:
        """Model loss (kW) and weighted violations J_V of one input vector (forward pass)."""
        c = self.thresholds(limits)
        g = penalty_weights(weights)
        out = {"loss_kw": float(self.nets["L"].forward(x)[0])}
        jv = 0.0
        for m in ("V", "I", "P"):
            viol = np.maximum(self.nets[m].forward(x) - c[m], 0.0)
            out[f"rho_{m}"] = float(viol.sum())
            jv += g[m] * float(viol.sum())
        out["J_V"] = jv
        return out

    # ------------------------------------------------------------------ artefact
    def save(self, path: Path, meta: dict) -> Path:
        """Write ``path.npz`` and ``path.json``; returns the npz path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {}
        for k, net in self.nets.items():
            arrays |= net.arrays(f"{k}_")
        arrays["v_names"] = np.array(self.v_names)
        arrays["i_names"] = np.array(self.i_names)
        npz = path.with_suffix(".npz")
        np.savez(npz, **arrays)
        meta = {**meta, "format_version": FORMAT_VERSION, "weights_sha256": file_hash(npz),
                "widths": {k: n.widths for k, n in self.nets.items()},
                "convex": all(n.convex for n in self.nets.values())}
        path.with_suffix(".json").write_text(json.dumps(meta, indent=2, default=float) + "\n")
        self.meta = meta
        return npz

    @classmethod
    def load(cls, path: Path) -> SurrogateSet:
        path = Path(path)
        with np.load(path.with_suffix(".npz")) as arr:
            nets = {k: Net.from_arrays(arr, f"{k}_") for k in KEYS}
            v_names, i_names = arr["v_names"].tolist(), arr["i_names"].tolist()
        meta_path = path.with_suffix(".json")
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        return cls(nets, v_names, i_names, meta)


def file_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
