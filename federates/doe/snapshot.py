"""OpenDSS snapshots of a feeder with DERs: compile once, set loads and DERs, solve, measure.

Settings fixed for sampling and validation alike (spec §6): regulator taps locked at the
feeder's published taps, capacitors fixed (``ControlMode=OFF``), every load constant-PQ
(``model=1``, ``vminpu=0.7``, ``vmaxpu=1.3``) so the power-flow map has no steps. Each DER
is a balanced 3-phase constant-PQ load with ``kW = -p`` (an injection). The circuit is
compiled once; each snapshot only writes load kW/kvar through the DSS C-API setters.
Measurements use bulk getters only. The tolerance is tight so that a result does not
depend on the snapshot solved before it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import opendssdirect as dss

import feeders
from federates.doe.case import Case

DER_PREFIX = "doe_der_"
LOAD_SETTINGS = "model=1 vminpu=0.7 vmaxpu=1.3"
TOLERANCE = 1e-8
"""Power-flow tolerance (pu): tight, so a snapshot does not depend on the previous one."""


@dataclass(frozen=True)
class Measurement:
    """One solved snapshot: node voltages (pu), line-phase currents (A, sending end),
    total losses (kW), 3-phase P at the sending end of the monitored lines (kW) and the
    substation import (kW)."""

    v_pu: np.ndarray
    i_a: np.ndarray
    loss_kw: float
    p_mon_kw: np.ndarray
    p_sub_kw: float


class Snapshotter:
    """One compiled OpenDSS circuit of ``case`` (opendssdirect's default engine)."""

    def __init__(self, case: Case, taps: dict[str, int] | None = None) -> None:
        self.case = case
        self.feeder = feeders.load(case.feeder)
        self.taps = dict(taps) if taps is not None else dict(self.feeder.published_taps)
        """Locked regulator taps (integer steps); the feeder's published taps by default."""
        self._compile()

    def _compile(self) -> None:
        case = self.case
        for cmd in self.feeder.dss_commands(taps=self.taps, lock_controls=True):
            dss.Text.Command(cmd)
        dss.Text.Command("Set ControlMode=OFF")
        dss.Text.Command(f"Set Tolerance={TOLERANCE} MaxIterations=100")
        dss.Text.Command(f"BatchEdit Load..* {LOAD_SETTINGS}")
        kv = self.feeder.base_kv_ll
        for d in case.ders:
            dss.Text.Command(f"New Load.{DER_PREFIX}{d.name} bus1={d.bus} phases=3 conn=wye "
                             f"kv={kv} kw=0 kvar=0 {LOAD_SETTINGS}")
        names = [n.lower() for n in dss.Loads.AllNames()]
        der_names = [f"{DER_PREFIX}{d.name}".lower() for d in case.ders]
        self.load_names = [n for n in names if n not in der_names]
        self._load_idx = [names.index(n) + 1 for n in self.load_names]
        self._der_idx = [names.index(n) + 1 for n in der_names]
        tab = self.feeder.tables.loads.set_index(self.feeder.tables.loads["name"].str.lower())
        self.base_p_kw = tab.loc[self.load_names, "kw"].to_numpy(float)
        self.base_q_kvar = tab.loc[self.load_names, "kvar"].to_numpy(float)
        self.load_bus = tab.loc[self.load_names, "bus"].astype(str).tolist()
        self._index_elements()
        self._n_loads = dss.Loads.Count()

    def ensure_active(self) -> None:
        """Recompile if another model replaced the engine's circuit (one engine per process)."""
        if dss.Loads.Count() != self._n_loads or dss.Circuit.Name().lower() != \
                self.feeder.tables.meta["circuit"].lower():
            self._compile()
            return
        dss.Loads.Idx(self._der_idx[-1])
        if dss.Loads.Name().lower() != f"{DER_PREFIX}{self.case.ders[-1].name}".lower():
            self._compile()

    # ------------------------------------------------------------------ layout
    def _index_elements(self) -> None:
        dss.Solution.Solve()
        src = self.feeder.source_bus.lower()
        self.node_names = [n.lower() for n in dss.Circuit.AllNodeNames()]
        v0 = np.asarray(dss.Circuit.AllBusMagPu())
        self.node_bus = [n.split(".")[0] for n in self.node_names]
        # all energised nodes except the source bus (fixed by the source)
        self.check_nodes = np.array([k for k, b in enumerate(self.node_bus)
                                     if b != src and v0[k] > 0.1], dtype=int)
        names = dss.PDElements.AllNames()
        nterm = dss.PDElements.AllNumTerminals()
        ncond = dss.PDElements.AllNumConductors()
        nph = dss.PDElements.AllNumPhases()
        pos, cur_idx, lines, line_buses = 0, [], [], []
        for name, t, c, p in zip(names, nterm, ncond, nph, strict=True):
            if name.lower().startswith("line."):
                dss.Circuit.SetActiveElement(name)
                buses = [b.split(".")[0].lower() for b in dss.CktElement.BusNames()]
                for ph in range(p):
                    cur_idx.append(pos + 2 * ph)  # magnitude of terminal-1 conductor ph
                    lines.append(f"{name[5:].lower()}.{ph + 1}")
                    line_buses.append(tuple(buses))
            pos += 2 * t * c
        self._cur_idx = np.array(cur_idx, dtype=int)
        self.line_phases = lines
        """``<line>.<k>``: conductor k of every enabled line (all checked in validation)."""
        self.line_phase_buses = line_buses
        self.mon_elements = [f"Line.{n}" for n in self.case.monitored_lines]

    def regulate(self, m: float) -> dict[str, int]:
        """Let the regulators find their taps at load multiplier ``m`` (DERs at 0), then lock
        them there; returns the taps. Used where the published taps (set for full nominal
        load) would hold a lightly loaded feeder above its voltage band."""
        regs = self.feeder.regcontrols
        for r in regs:
            dss.Text.Command(f"Edit RegControl.{r} enabled=yes")
        dss.Text.Command("Set ControlMode=STATIC")
        self.set_injections(m * self.base_p_kw, m * self.base_q_kvar,
                            np.zeros(self.case.n_der), np.zeros(self.case.n_der))
        dss.Solution.Solve()
        step = self.feeder.tap_step
        taps = {}
        for name in self.feeder.regulators:
            dss.Transformers.Name(name)
            dss.Transformers.Wdg(2)
            taps[name] = int(round((dss.Transformers.Tap() - 1.0) / step))
        for r in regs:
            dss.Text.Command(f"Edit RegControl.{r} enabled=no")
        dss.Text.Command("Set ControlMode=OFF")
        self.taps = taps
        self._compile()
        return taps

    # ------------------------------------------------------------------ solve
    def set_injections(self, p_load: np.ndarray, q_load: np.ndarray, p_der: np.ndarray,
                       q_der: np.ndarray) -> None:
        """Write load kW/kvar (consumption) and DER injections (kW > 0 = export)."""
        lib = dss.Loads._lib
        for idx, p, q in zip(self._load_idx, np.asarray(p_load, float).tolist(),
                             np.asarray(q_load, float).tolist(), strict=True):
            lib.Loads_Set_idx(idx)
            lib.Loads_Set_kW(p)
            lib.Loads_Set_kvar(q)
        for idx, p, q in zip(self._der_idx, np.asarray(p_der, float).tolist(),
                             np.asarray(q_der, float).tolist(), strict=True):
            lib.Loads_Set_idx(idx)
            lib.Loads_Set_kW(-p)
            lib.Loads_Set_kvar(-q)
        dss.Loads._check_for_error()

    def solve(self, p_load: np.ndarray, q_load: np.ndarray, p_der: np.ndarray,
              q_der: np.ndarray | None = None) -> Measurement | None:
        """Solve one snapshot; ``None`` if the power flow did not converge."""
        if q_der is None:
            q_der = np.array([d.q_kvar for d in self.case.ders])
        self.ensure_active()
        self.set_injections(p_load, q_load, p_der, q_der)
        dss.Solution.Solve()
        if not dss.Solution.Converged():
            return None
        v = np.asarray(dss.Circuit.AllBusMagPu())
        cur = np.asarray(dss.PDElements.AllCurrentsMagAng())[self._cur_idx]
        p_mon = np.empty(len(self.mon_elements))
        for k, el in enumerate(self.mon_elements):
            dss.Circuit.SetActiveElement(el)
            pw = np.asarray(dss.CktElement.Powers())
            p_mon[k] = pw[: len(pw) // 2][0::2].sum()
        dss.Circuit.SetActiveElement(self.feeder.pcc_element)
        pw = np.asarray(dss.CktElement.Powers())
        p_sub = self.feeder.pcc_sign * pw[: len(pw) // dss.CktElement.NumTerminals()][0::2].sum()
        return Measurement(v, cur, float(dss.Circuit.Losses()[0]) / 1000.0, p_mon, float(p_sub))
