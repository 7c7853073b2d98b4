"""Build the :class:`~feeders.network.Network` arrays from a feeder's tables (runs once)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import pandas as pd

from feeders.network import Network
from feeders.tables import FeederTables

METERS = {"mi": 1609.344, "kft": 304.8, "km": 1000.0, "m": 1.0, "ft": 0.3048,
          "in": 0.0254, "cm": 0.01, "mm": 0.001}


@dataclass
class _Branch:
    name: str
    kind: str
    bus1: str
    bus2: str
    phases: tuple[int, ...]
    z: np.ndarray
    rating: float
    taps: np.ndarray
    elements: tuple[str, ...]
    length_km: float = 0.0


def parse_nodes(nodes: str, n: int) -> tuple[int, ...]:
    """Phase nodes of a terminal ("1.3" -> (1, 3)); empty means 1..n."""
    got = tuple(int(v) for v in str(nodes).split(".") if v not in ("", "0"))
    return got if got else tuple(range(1, n + 1))


def linecode_matrices(linecodes: pd.DataFrame) -> dict[str, tuple[np.ndarray, str]]:
    """Complex series impedance matrix (ohm per unit length) and units of each line code."""
    out: dict[str, tuple[np.ndarray, str]] = {}
    for code, grp in linecodes.groupby("linecode", sort=False):
        n = int(grp["nphases"].iloc[0])
        z = np.zeros((n, n), dtype=complex)
        i = grp["row"].to_numpy() - 1
        j = grp["col"].to_numpy() - 1
        vals = grp["r"].to_numpy() + 1j * grp["x"].to_numpy()
        z[i, j] = vals
        z[j, i] = vals
        out[str(code).lower()] = (z, str(grp["units"].iloc[0]))
    return out


def _length_factor(length: float, line_units: str, code_units: str) -> float:
    if line_units in METERS and code_units in METERS:
        return length * METERS[line_units] / METERS[code_units]
    return length


def _line_branches(t: FeederTables) -> list[_Branch]:
    codes = linecode_matrices(t.linecodes)
    out = []
    live = t.lines[(t.lines["enabled"] == 1) & (t.lines["normally_open"] == 0)]
    for row in live.itertuples(index=False):
        ph = parse_nodes(row.nodes, int(row.phases))
        if row.linecode:
            zc, units = codes[row.linecode.lower()]
            z = zc * _length_factor(row.length, row.units, units)
        else:
            z1, z0 = complex(row.r1, row.x1), complex(row.r0, row.x0)
            n = len(ph)
            # as OpenDSS: a 1-phase line given by sequence data has self impedance z1
            z = np.full((n, n), (z0 - z1) / 3.0 if n > 1 else 0.0) + np.eye(n) * z1
            z = z * row.length
        kind = "switch" if row.switch else "line"
        km = row.length * METERS[row.units] / 1000.0 if row.units in METERS else float("nan")
        out.append(_Branch(row.name, kind, row.bus1, row.bus2, ph, z, row.normamps,
                           np.ones(len(ph)), (f"Line.{row.name}",),
                           0.0 if row.switch else km))
    return out


def _transformer_branches(t: FeederTables) -> list[_Branch]:
    step = t.tap_step
    reg_tap = {r.transformer.lower(): 1.0 + step * r.published_tap
               for r in t.regulators.itertuples(index=False)}
    groups: dict[tuple[str, str], list] = {}
    for row in t.transformers.itertuples(index=False):
        groups.setdefault((row.bus1, row.bus2), []).append(row)
    out = []
    for (b1, b2), rows in groups.items():
        phases: list[int] = []
        zs: list[complex] = []
        taps: list[float] = []
        for r in rows:
            ph = parse_nodes(r.nodes2, int(r.phases))
            zpu = complex(2.0 * r.pct_r, r.xhl) / 100.0
            zs += [zpu * r.kv2**2 / (r.kva / 1000.0)] * len(ph)
            taps += [reg_tap.get(r.name.lower(), 1.0)] * len(ph)
            phases += ph
        r0 = rows[0]
        is_reg = any(r.name.lower() in reg_tap for r in rows)
        amps = r0.kva / (np.sqrt(3.0) * r0.kv2) if r0.phases == 3 else r0.kva / r0.kv2
        out.append(_Branch("+".join(r.name for r in rows),
                           "regulator" if is_reg else "transformer", b1, b2,
                           tuple(phases), np.diag(zs), amps, np.array(taps),
                           tuple(f"Transformer.{r.name}" for r in rows)))
    return out


def _z1(z: np.ndarray) -> complex:
    n = z.shape[0]
    if n == 1:
        return complex(z[0, 0])
    diag = np.trace(z) / n
    off = (z.sum() - np.trace(z)) / (n * (n - 1))
    return complex(diag - off)


def _per_phase_loads(t: FeederTables, index: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    p = np.zeros((len(index), 3))
    q = np.zeros((len(index), 3))
    for row in t.loads.itertuples(index=False):
        n = 3 if int(row.phases) == 3 else (1 if row.conn.lower() == "wye" else 2)
        nodes = parse_nodes(row.nodes, n)
        for k in nodes:
            p[index[row.bus], k - 1] += row.kw / len(nodes)
            q[index[row.bus], k - 1] += row.kvar / len(nodes)
    return p, q


def build_network(t: FeederTables) -> Network:
    """Orient the closed branches away from the source and collect the arrays."""
    source = str(t.meta["source_bus"])
    branches = _line_branches(t) + _transformer_branches(t)
    adj: dict[str, list[tuple[str, int]]] = {}
    for k, br in enumerate(branches):
        adj.setdefault(br.bus1, []).append((br.bus2, k))
        adj.setdefault(br.bus2, []).append((br.bus1, k))
    order, feed = [source], {source: -1}
    queue = deque([source])
    while queue:
        bus = queue.popleft()
        for other, k in adj.get(bus, []):
            if other not in feed:
                feed[other] = k
                order.append(other)
                queue.append(other)
    index = {b: i for i, b in enumerate(order)}
    chosen = [branches[feed[b]] for b in order[1:]]
    from_bus = np.array([index[br.bus1 if br.bus2 == b else br.bus2]
                         for br, b in zip(chosen, order[1:], strict=True)], dtype=int)
    phases_of: dict[str, set[int]] = {source: {1, 2, 3}}
    for br, b in zip(chosen, order[1:], strict=True):
        phases_of.setdefault(b, set()).update(br.phases)
    kv = t.buses.set_index("bus")["base_kv_ll"]
    p_abc, q_abc = _per_phase_loads(t, index)
    z1 = np.array([_z1(br.z) for br in chosen], dtype=complex)
    shunt = np.zeros(len(order))
    for bus, kvar in zip(t.capacitors["bus"].astype(str), t.capacitors["kvar"], strict=True):
        shunt[index[bus]] += float(kvar)
    net = Network(
        buses=order,
        bus_index=index,
        base_kv_ln=np.array([kv[b] for b in order]) / np.sqrt(3.0),
        bus_phases=[tuple(sorted(phases_of[b])) for b in order],
        branch_names=[br.name for br in chosen],
        from_bus=from_bus,
        to_bus=np.arange(1, len(order), dtype=int),
        r_ohm=z1.real.copy(),
        x_ohm=z1.imag.copy(),
        z_abc=[br.z for br in chosen],
        branch_phases=[br.phases for br in chosen],
        rating_a=np.array([br.rating for br in chosen], dtype=float),
        tap_ratio=np.array([float(br.taps.mean()) for br in chosen]),
        load_p_kw=p_abc.sum(axis=1),
        load_q_kvar=q_abc.sum(axis=1),
        s_base_kva=float(t.meta["s_base_kva"]),
        v_source_pu=float(t.meta["source"]["pu"]),
        branch_kind=[br.kind for br in chosen],
        branch_elements=[br.elements for br in chosen],
        tap_ratio_abc=[br.taps for br in chosen],
        load_p_kw_abc=p_abc,
        load_q_kvar_abc=q_abc,
        length_km=np.array([br.length_km for br in chosen], dtype=float),
        shunt_q_kvar=shunt,
        tap_step=t.tap_step,
    )
    _freeze(net)
    return net


def _freeze(net: Network) -> None:
    """Make every array read-only: ``feeders.load`` shares one Network per feeder."""
    for value in vars(net).values():
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, np.ndarray):
                item.flags.writeable = False
