"""Rooftop PV with an inverter: available power, curtailment, fixed pf or volt-var.

Load convention: generation is negative p. Active power has priority; reactive power is
limited to sqrt(S^2 - P^2). Volt-var follows the IEEE 1547-2018 category B default curve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

VOLT_VAR_V = np.array([0.92, 0.98, 1.02, 1.08])
VOLT_VAR_Q = np.array([0.44, 0.0, 0.0, -0.44])  # injected var per unit of rating


@dataclass
class PvParams:
    s_rated_kva: np.ndarray  # inverter rating
    dc_kw: np.ndarray  # array rating at 1,000 W/m2, 25 degC
    derate: np.ndarray  # wiring, soiling and inverter losses
    temp_coeff: float = -0.004  # per degC of cell temperature above 25
    pf: float = 1.0  # fixed power factor magnitude
    pf_absorbing: bool = True  # fixed pf absorbs vars (load convention q > 0)
    volt_var: bool = False


def available_kw(p: PvParams, ghi_w_m2: float, temp_c: float) -> np.ndarray:
    """AC power the arrays could deliver now (>= 0), clipped at the inverter rating."""
    cell = temp_c + 0.03 * ghi_w_m2
    dc = p.dc_kw * ghi_w_m2 / 1000.0 * (1 + p.temp_coeff * (cell - 25.0))
    return np.clip(dc * p.derate, 0.0, p.s_rated_kva)


def pv_output(p: PvParams, avail_kw: np.ndarray, cap_kw: np.ndarray,
              v_pu: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(p, q) in load convention for available power, a curtailment cap and local voltage."""
    gen = np.minimum(avail_kw, np.maximum(cap_kw, 0.0))
    head = np.sqrt(np.maximum(p.s_rated_kva**2 - gen**2, 0.0))
    if p.volt_var and v_pu is not None:
        q_inj = np.interp(v_pu, VOLT_VAR_V, VOLT_VAR_Q) * p.s_rated_kva
        q = -np.clip(q_inj, -head, head)
    elif p.pf < 1.0:
        q_mag = np.minimum(gen * np.tan(np.arccos(p.pf)), head)
        q = q_mag if p.pf_absorbing else -q_mag
    else:
        q = np.zeros_like(gen)
    return -gen, q
