"""Communication graphs of the prosumer agents (undirected, connected) as Laplacians."""

from __future__ import annotations

import numpy as np


def adjacency(kind: str, m: int, buses: list[str] | None = None, feeder=None) -> np.ndarray:
    """0/1 adjacency: 'ring' and 'line' in prosumer order, 'complete', or 'feeder'.

    'feeder' joins two prosumers when no other prosumer's bus lies on the feeder path
    between their buses (a tree over the prosumers that follows the wires).
    """
    a = np.zeros((m, m))
    if m < 2:
        return a
    if kind in ("ring", "line"):
        for i in range(m - 1):
            a[i, i + 1] = a[i + 1, i] = 1.0
        if kind == "ring" and m > 2:
            a[0, m - 1] = a[m - 1, 0] = 1.0
    elif kind == "complete":
        a = np.ones((m, m)) - np.eye(m)
    elif kind == "feeder":
        if buses is None or feeder is None:
            raise ValueError("graph 'feeder' needs the prosumers' buses and the feeder")
        a = _feeder_adjacency(buses, feeder.network)
    else:
        raise ValueError(f"unknown graph {kind!r}; use ring, line, complete or feeder")
    if not is_connected(a):
        raise ValueError(f"graph {kind!r} over {m} prosumers is not connected")
    return a


def _path_to_root(net, b: int) -> list[int]:
    par = net.parent()
    out = [b]
    while par[out[-1]] >= 0:
        out.append(int(par[out[-1]]))
    return out


def _feeder_adjacency(buses: list[str], net) -> np.ndarray:
    m = len(buses)
    idx = [net.bus_index[b] for b in buses]
    paths = [_path_to_root(net, b) for b in idx]
    a = np.zeros((m, m))
    for i in range(m):
        for k in range(i + 1, m):
            pi, pk = paths[i], paths[k]
            common = set(pi) & set(pk)
            route = [b for b in pi if b not in common] + [b for b in pk if b not in common]
            meet = next(b for b in pi if b in common)
            route.append(meet)
            others = {idx[j] for j in range(m) if j not in (i, k)}
            inner = set(route) - {idx[i], idx[k]}
            if idx[i] == idx[k] or not (inner & others):
                a[i, k] = a[k, i] = 1.0
    return a


def is_connected(a: np.ndarray) -> bool:
    m = a.shape[0]
    seen, stack = {0}, [0]
    while stack:
        i = stack.pop()
        for k in np.flatnonzero(a[i]):
            if int(k) not in seen:
                seen.add(int(k))
                stack.append(int(k))
    return len(seen) == m


def laplacian(a: np.ndarray) -> np.ndarray:
    """L = D - A: (L s)_i = sum_{k in N_i} (s_i - s_k), the paper's delta(s_i)."""
    return np.diag(a.sum(axis=1)) - a
