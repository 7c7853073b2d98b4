"""Turn a feeder's tables into OpenDSS commands (runs once per compile)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from feeders.tables import FeederTables


def _num(v: float) -> str:
    """Shortest exact text of a number (repr keeps every digit of the table value)."""
    f = float(v)
    return str(int(f)) if f.is_integer() and abs(f) < 1e15 else repr(f)


def _term(bus: str, nodes: str) -> str:
    return f"{bus}.{nodes}" if nodes else bus


def _matrix(vals: pd.Series, grp: pd.DataFrame) -> str:
    rows: dict[int, list[str]] = {}
    for r, v in zip(grp["row"], vals, strict=True):
        rows.setdefault(int(r), []).append(_num(v))
    return "[" + " | ".join(" ".join(rows[r]) for r in sorted(rows)) + "]"


def circuit_commands(t: FeederTables) -> list[str]:
    """``Clear``, base frequency and the circuit (source) definition."""
    m, s = t.meta, t.meta["source"]
    parts = [f"New Circuit.{m['circuit']}", "phases=3", f"bus1={m['source_bus']}",
             f"basekv={_num(s['basekv'])}", f"pu={_num(s['pu'])}", f"angle={_num(s['angle'])}"]
    for key in ("mvasc3", "mvasc1", "r1", "x1", "r0", "x0"):
        if key in s:
            parts.append(f"{key}={_num(s[key])}")
    return ["Clear", f"Set DefaultBaseFrequency={_num(m.get('frequency_hz', 60))}", " ".join(parts)]


def linecode_commands(t: FeederTables) -> list[str]:
    out = []
    for code, grp in t.linecodes.sort_values(["row", "col"]).groupby("linecode", sort=False):
        out.append(
            f"New Linecode.{code} nphases={int(grp['nphases'].iloc[0])} "
            f"units={grp['units'].iloc[0]} rmatrix={_matrix(grp['r'], grp)} "
            f"xmatrix={_matrix(grp['x'], grp)} cmatrix={_matrix(grp['c_nf'], grp)}"
        )
    return out


def line_commands(t: FeederTables) -> list[str]:
    out = []
    for r in t.lines.itertuples(index=False):
        cmd = (f"New Line.{r.name} phases={r.phases} bus1={_term(r.bus1, r.nodes)} "
               f"bus2={_term(r.bus2, r.nodes)}")
        if r.switch:  # first: switch=yes resets impedance and length to switch defaults
            cmd += " switch=yes"
        if r.linecode:
            cmd += f" linecode={r.linecode}"
        else:
            seq = ("r1", "x1", "r0", "x0", "c1", "c0")
            cmd += "".join(f" {k}={_num(getattr(r, k))}" for k in seq)
        cmd += f" length={_num(r.length)} units={r.units}"
        if not math.isnan(r.normamps):
            cmd += f" normamps={_num(r.normamps)}"
        if not r.enabled:
            cmd += " enabled=no"
        out.append(cmd)
    return out


def transformer_commands(t: FeederTables, regulators: bool) -> list[str]:
    """Transformers that are (``regulators=True``) or are not regulated, plus RegControls."""
    regulated = {n.lower() for n in t.regulators["transformer"]}
    out = []
    for r in t.transformers.itertuples(index=False):
        if (r.name.lower() in regulated) != regulators:
            continue
        cmd = (f"New Transformer.{r.name} phases={r.phases} windings=2 "
               f"buses=[{_term(r.bus1, r.nodes1)} {_term(r.bus2, r.nodes2)}] "
               f"conns=[{r.conn1} {r.conn2}] kvs=[{_num(r.kv1)} {_num(r.kv2)}] "
               f"kvas=[{_num(r.kva)} {_num(r.kva)}] xhl={_num(r.xhl)} "
               f"%rs=[{_num(r.pct_r)} {_num(r.pct_r)}] ppm_antifloat={_num(r.ppm)}")
        out.append(cmd + (f" bank={r.bank}" if r.bank else ""))
    if regulators:
        for r in t.regulators.itertuples(index=False):
            out.append(f"New RegControl.{r.name} transformer={r.transformer} winding={r.winding} "
                       f"vreg={_num(r.vreg)} band={_num(r.band)} ptratio={_num(r.ptratio)} "
                       f"ctprim={_num(r.ctprim)} R={_num(r.r)} X={_num(r.x)}")
    return out


def capacitor_commands(t: FeederTables) -> list[str]:
    return [f"New Capacitor.{r.name} bus1={_term(r.bus, r.nodes)} phases={r.phases} "
            f"kvar={_num(r.kvar)} kv={_num(r.kv)}" for r in t.capacitors.itertuples(index=False)]


def load_commands(t: FeederTables) -> list[str]:
    extra = ""
    for key in ("vminpu", "vmaxpu"):
        if t.meta.get(f"load_{key}") is not None:
            extra += f" {key}={_num(t.meta[f'load_{key}'])}"
    return [f"New Load.{r.name} bus1={_term(r.bus, r.nodes)} phases={r.phases} conn={r.conn} "
            f"model={r.model} kv={_num(r.kv)} kw={_num(r.kw)} kvar={_num(r.kvar)}{extra}"
            for r in t.loads.itertuples(index=False)]


def voltage_base_commands(t: FeederTables) -> list[str]:
    bases = " ".join(_num(v) for v in t.meta["voltage_bases_kv"])
    return [f"Set VoltageBases=[{bases}]", "CalcVoltageBases"]


def coordinate_commands(t: FeederTables) -> list[str]:
    xy = t.buses.dropna(subset=["x", "y"])
    return [f"SetBusXY bus={b} x={_num(x)} y={_num(y)}"
            for b, x, y in zip(xy["bus"], xy["x"], xy["y"], strict=True)]


def tap_commands(t: FeederTables, taps: Mapping[str, int] | None, lock: bool) -> list[str]:
    """Set regulator taps (integer steps from neutral) and optionally disable RegControls."""
    step = t.tap_step
    known = {n.lower(): n for n in t.regulators["transformer"]}
    out = []
    for name, tap in (taps or {}).items():
        if name.lower() not in known:
            raise ValueError(f"unknown regulator {name!r}; known: {sorted(known.values())}")
        ratio = _num(1.0 + step * int(tap))
        out.append(f"Edit Transformer.{known[name.lower()]} wdg=2 tap={ratio}")
    if lock:
        out += [f"Edit RegControl.{n} enabled=no" for n in t.regulators["name"]]
    return out


def dss_commands(t: FeederTables, taps: Mapping[str, int] | None = None,
                 lock_controls: bool = False) -> list[str]:
    """All commands to compile the feeder in-process (no files), starting with ``Clear``."""
    return (circuit_commands(t) + linecode_commands(t) + transformer_commands(t, False)
            + transformer_commands(t, True) + line_commands(t) + capacitor_commands(t)
            + load_commands(t) + voltage_base_commands(t) + coordinate_commands(t)
            + tap_commands(t, taps, lock_controls))
