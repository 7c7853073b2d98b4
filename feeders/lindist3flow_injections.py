"""Per-phase injections for LinDist3Flow: wye and delta loads, capacitors, line charging.

All powers are kVA per phase in the load convention (positive = drawn from the grid).
Delta connections become wye-equivalent phase powers under balanced nominal voltages.
"""

from __future__ import annotations

import numpy as np

from feeders.catalog import Feeder
from feeders.topology import METERS, parse_nodes

ALPHA = np.exp(-2j * np.pi / 3)
PHASOR = {1: 1.0 + 0j, 2: ALPHA, 3: ALPHA**2}
"""Balanced positive-sequence unit phasor of phases 1, 2, 3 (a, b, c)."""


def gamma(phases: tuple[int, ...]) -> np.ndarray:
    """``gamma[i, j] = a_i / a_j``: the nominal ratio of the phase voltages of ``phases``."""
    return np.array([[PHASOR[a] / PHASOR[b] for b in phases] for a in phases])


def delta_to_phases(nodes: tuple[int, int], s_kva: complex) -> dict[int, complex]:
    """Wye-equivalent phase powers of a load ``s_kva`` connected between two phases.

    Exact for balanced nominal voltages: ``S_i = S V_i / (V_i - V_j)``, ``S_j = -S V_j /
    (V_i - V_j)`` (for ``a-b``: ``S e^-j30 / sqrt 3`` on a and ``S e^+j30 / sqrt 3`` on b).
    """
    i, j = nodes
    vi, vj = PHASOR[i], PHASOR[j]
    return {i: s_kva * vi / (vi - vj), j: -s_kva * vj / (vi - vj)}


def load_phase_powers(nodes: str, phases: int, conn: str, s_kva: complex) -> dict[int, complex]:
    """Wye-equivalent per-phase powers (kVA, load convention) of one load row."""
    delta = conn.strip().lower() in ("delta", "d", "ll")
    n = 3 if phases == 3 else (2 if delta else 1)
    ph = parse_nodes(nodes, n)
    if not delta or len(ph) == 1:
        return {p: s_kva / len(ph) for p in ph}
    if len(ph) == 2:
        return delta_to_phases((ph[0], ph[1]), s_kva)
    out: dict[int, complex] = {p: 0j for p in ph}
    for pair in ((ph[0], ph[1]), (ph[1], ph[2]), (ph[2], ph[0])):
        for p, s in delta_to_phases(pair, s_kva / 3.0).items():
            out[p] += s
    return out


def capacitor_powers(feeder: Feeder) -> list[tuple[str, int, complex]]:
    """(bus, phase, kVA at 1 pu) of every capacitor: ``-j kvar (kV_base / kV_rated)**2``
    shared equally by its phases (``kv`` is line-to-line for multi-phase units)."""
    net = feeder.network
    out = []
    for row in feeder.tables.capacitors.itertuples(index=False):
        ph = parse_nodes(row.nodes, int(row.phases))
        kv_rated = row.kv / (np.sqrt(3.0) if int(row.phases) > 1 else 1.0)
        base = net.base_kv_ln[net.bus_index[row.bus]]
        out += [(row.bus, p, -1j * row.kvar / len(ph) * (base / kv_rated) ** 2) for p in ph]
    return out


def line_charging_powers(feeder: Feeder) -> list[tuple[str, int, complex]]:
    """(bus, phase, kVA at 1 pu) of half the shunt capacitance of every closed line at each
    end: ``S_a = |V|**2 sum_b conj(Y_ab) / 2 * a_a / a_b`` with ``Y = j omega C``."""
    t, net = feeder.tables, feeder.network
    omega = 2.0 * np.pi * float(t.meta.get("frequency_hz", 60.0))
    cmat: dict[str, tuple[np.ndarray, str]] = {}
    for code, grp in t.linecodes.groupby("linecode", sort=False):
        c = np.zeros((int(grp["nphases"].iloc[0]),) * 2)
        c[grp["row"] - 1, grp["col"] - 1] = grp["c_nf"]
        c[grp["col"] - 1, grp["row"] - 1] = grp["c_nf"]
        cmat[str(code).lower()] = (c, str(grp["units"].iloc[0]))
    out = []
    live = t.lines[(t.lines["enabled"] == 1) & (t.lines["normally_open"] == 0)
                   & (t.lines["switch"] == 0)]
    for row in live.itertuples(index=False):
        ph = parse_nodes(row.nodes, int(row.phases))
        if row.linecode:
            c, units = cmat[row.linecode.lower()]
            known = row.units in METERS and units in METERS
            length = row.length * METERS[row.units] / METERS[units] if known else row.length
        else:
            nph = len(ph)
            c = np.full((nph, nph), (row.c0 - row.c1) / 3.0 if nph > 1 else 0.0)
            c = c + np.eye(nph) * row.c1
            length = row.length
        y_half = 1j * omega * c * length * 1e-9 / 2.0  # siemens
        s_per_kv2 = (np.conj(y_half) * gamma(ph)).sum(axis=1) * 1000.0
        for bus in (row.bus1, row.bus2):
            kv = net.base_kv_ln[net.bus_index[bus]]
            out += [(bus, pa, complex(s_per_kv2[a]) * kv**2) for a, pa in enumerate(ph)]
    return out
