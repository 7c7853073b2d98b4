"""Three-phase feasibility check of one day in OpenDSS (compiled once, reused per check).

The feeder is compiled once per process. Each fixed load keeps its element and is scaled per
step through the DSS C-API setters; every network bus gets one constant-PQ "injection" load
on all its phases (delta on three-phase buses, which also suits the ungrounded secondary of
a delta-delta transformer; wye on one- and two-phase buses) carrying the net DER power
(PV + battery + heat pump + EV). A check writes the values of one step, solves, and compares
per-bus extreme phase voltages and per-element loading (% of normamps, worst phase) with the
limits. Regulator taps (``Config.regulators``): in ``baseline`` mode the RegControls choose
the taps of every step on the no-PV day and those taps are held in the checks; in
``controlled`` mode every step starts from the published taps and the controls move them;
either way a step's result depends only on that step's inputs, not on the check before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import opendssdirect as dss

import feeders
from runner.studies.hosting_capacity.config import Config
from runner.studies.hosting_capacity.profiles import Day

TOL = 1e-6
INJ = "hcinj_"


@dataclass
class Limits:
    """Per-bus voltage and per-branch loading limits (baseline violations excluded)."""

    v_max: np.ndarray  # (B,) [pu]
    v_min: np.ndarray  # (B,) [pu]
    loading: np.ndarray  # (K,) [%]


@dataclass
class DayResult:
    """Outcome of one day; the arrays are filled when recording (else only up to a stop)."""

    feasible: bool
    first_violation: tuple[int, str, str] | None  # (step, 'v_max'|'v_min'|'loading', where)
    v_max: np.ndarray  # (T, B) highest phase voltage [pu]
    v_min: np.ndarray  # (T, B) lowest phase voltage [pu]
    loading: np.ndarray  # (T, K) worst element loading of each branch [%]
    p_branch: np.ndarray  # (T, K) three-phase power into the branch from its parent [kW]
    q_branch: np.ndarray  # (T, K) [kvar]
    converged: bool = True


class DssDay:
    """The compiled feeder and the fast per-step writes for day-long feasibility checks."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        feeder = feeders.load(cfg.feeder)
        self.net = net = feeder.network
        self.taps = feeder.published_taps
        self._tap_values = [(n, 1.0 + feeder.tap_step * t) for n, t in self.taps.items()]
        lock = cfg.regulators != "controlled"
        self.regcontrols = feeder.regcontrols
        self.tap_schedule: np.ndarray | None = None  # (T, R) taps of the baseline day
        for cmd in feeder.dss_commands(taps=self.taps, lock_controls=lock):
            err = dss.Text.Command(cmd)
            if err:
                raise RuntimeError(f"OpenDSS rejected {cmd!r}: {err}")
        bus_idx = {b.lower(): i for i, b in enumerate(net.buses)}
        self._lib = dss.Loads._lib
        # fixed loads: element index, bus index, nominal kW/kvar
        self.load_idx, self.load_bus, self.load_kw, self.load_kvar = [], [], [], []
        i = dss.Loads.First()
        while i:
            self.load_idx.append(dss.Loads.Idx())
            self.load_bus.append(bus_idx[dss.CktElement.BusNames()[0].split(".")[0].lower()])
            self.load_kw.append(dss.Loads.kW())
            self.load_kvar.append(dss.Loads.kvar())
            i = dss.Loads.Next()
        self.load_bus = np.array(self.load_bus)
        self.load_kw, self.load_kvar = np.array(self.load_kw), np.array(self.load_kvar)
        # one injection load per non-source bus
        self.inj_idx = np.full(net.n_buses, -1)
        for b in range(1, net.n_buses):
            dss.Circuit.SetActiveBus(net.buses[b])
            nodes = [n for n in dss.Bus.Nodes() if n in (1, 2, 3)]
            kv = dss.Bus.kVBase() * (np.sqrt(3) if len(nodes) > 1 else 1.0)
            name = f"{INJ}{b}"
            conn = "delta" if len(nodes) == 3 else "wye"  # delta also works on ungrounded buses
            dss.Text.Command(f"New Load.{name} bus1={net.buses[b]}.{'.'.join(map(str, nodes))} "
                             f"phases={len(nodes)} conn={conn} model=1 kV={kv:.6f} kW=0 kvar=0 "
                             "vminpu=0.5 vmaxpu=1.5")
            dss.Loads.Name(name)
            self.inj_idx[b] = dss.Loads.Idx()
        dss.Solution.Solve()
        # node -> bus map (network buses only, source excluded)
        nodes = [n.split(".")[0].lower() for n in dss.Circuit.AllNodeNames()]
        node_bus = np.array([bus_idx.get(n, -1) for n in nodes])
        keep = np.flatnonzero(node_bus > 0)
        order = keep[np.argsort(node_bus[keep], kind="stable")]
        self._node_order = order
        sorted_bus = node_bus[order]
        self._starts = np.flatnonzero(np.r_[True, np.diff(sorted_bus) > 0])
        self.monitored = sorted_bus[self._starts]  # bus indices with nodes (ascending)
        # branch -> PD element rows
        pd_names = [n.lower() for n in dss.PDElements.AllNames()]
        self.pd_names = pd_names
        rows = [[pd_names.index(e.lower()) for e in els] for els in net.branch_elements]
        self._pd_rows = np.array([r for rr in rows for r in rr])
        self._pd_starts = np.cumsum([0] + [len(rr) for rr in rows[:-1]])
        self._dirty = False
        self.limits = self.default_limits()

    @property
    def n_branches(self) -> int:
        return self.net.n_branches

    def default_limits(self) -> Limits:
        b, k = self.net.n_buses, self.n_branches
        return Limits(np.full(b, self.cfg.v_max_pu), np.full(b, self.cfg.v_min_pu),
                      np.full(k, self.cfg.loading_max_pct))

    def set_baseline(self, base: DayResult) -> None:
        """Limits relaxed to the no-PV baseline where it already violates them."""
        lim = self.default_limits()
        if self.cfg.exclude_baseline_violations:
            mon = self.monitored
            lim.v_max[mon] = np.maximum(lim.v_max[mon], base.v_max[:, mon].max(axis=0) + TOL)
            lim.v_min[mon] = np.minimum(lim.v_min[mon], base.v_min[:, mon].min(axis=0) - TOL)
            lim.loading = np.maximum(lim.loading, base.loading.max(axis=0) + 1e-4)
        self.limits = lim

    def set_controls(self, enabled: bool) -> None:
        for name in self.regcontrols:
            dss.Text.Command(f"RegControl.{name}.enabled={'yes' if enabled else 'no'}")

    def _set_taps(self, taps: np.ndarray) -> None:
        for (name, _), tap in zip(self._tap_values, taps.tolist(), strict=True):
            dss.Transformers.Name(name)
            dss.Transformers.Wdg(2)
            dss.Transformers.Tap(tap)

    def _read_taps(self) -> np.ndarray:
        out = []
        for name, _ in self._tap_values:
            dss.Transformers.Name(name)
            dss.Transformers.Wdg(2)
            out.append(dss.Transformers.Tap())
        return np.array(out)

    def _reset_taps(self) -> None:
        if self._dirty:  # a diverged solve leaves voltages that the next solve starts from
            dss.Text.Command("CalcVoltageBases")
            self._dirty = False
        for name, tap in self._tap_values:
            dss.Transformers.Name(name)
            dss.Transformers.Wdg(2)
            dss.Transformers.Tap(tap)

    def _write_step(self, load_mult: np.ndarray, inj_p: np.ndarray, inj_q: np.ndarray) -> None:
        lib = self._lib
        f = load_mult[self.load_bus]
        for idx, kw, kvar in zip(self.load_idx, (self.load_kw * f).tolist(),
                                 (self.load_kvar * f).tolist(), strict=True):
            lib.Loads_Set_idx(idx)
            lib.Loads_Set_kW(kw)
            lib.Loads_Set_kvar(kvar)
        for idx, p, q in zip(self.inj_idx[1:].tolist(), (-inj_p[1:]).tolist(),
                             (-inj_q[1:]).tolist(), strict=True):
            lib.Loads_Set_idx(idx)
            lib.Loads_Set_kW(p)
            lib.Loads_Set_kvar(q)

    def _branch_powers(self) -> tuple[np.ndarray, np.ndarray]:
        p = np.zeros(self.n_branches)
        q = np.zeros(self.n_branches)
        for k, els in enumerate(self.net.branch_elements):
            for e in els:
                dss.Circuit.SetActiveElement(e)
                pw = np.asarray(dss.CktElement.Powers())
                first = pw[: len(pw) // dss.CktElement.NumTerminals()]
                p[k] += first[0::2].sum()
                q[k] += first[1::2].sum()
        return p, q

    def run_baseline(self, day: Day, inj_p: np.ndarray) -> DayResult:
        """The no-PV day: sets the limits and, in ``baseline`` mode, the tap schedule."""
        self.limits = self.default_limits()
        if self.cfg.regulators != "baseline":
            base = self.run_day(day, inj_p, stop_at_violation=False)
        else:
            self.set_controls(True)
            self.tap_schedule = None
            base = self.run_day(day, inj_p, stop_at_violation=False, record_taps=True)
            self.set_controls(False)
        self.set_baseline(base)
        return base

    def run_day(self, day: Day, inj_p: np.ndarray, inj_q: np.ndarray | None = None,
                *, stop_at_violation: bool = True, powers: bool = False,
                record_taps: bool = False, steps: np.ndarray | None = None) -> DayResult:
        """Solve the steps of ``day`` (all, or ``steps`` in the given order) with net DER
        injections ``inj_p`` (T, B) [kW]. Unsolved steps stay nan."""
        t_n, b_n, k_n = len(day.hours), self.net.n_buses, self.n_branches
        inj_q = np.zeros_like(inj_p) if inj_q is None else inj_q
        vmax, vmin = np.full((t_n, b_n), np.nan), np.full((t_n, b_n), np.nan)
        loading = np.full((t_n, k_n), np.nan)
        pb, qb = np.full((t_n, k_n), np.nan), np.full((t_n, k_n), np.nan)
        lim, mon = self.limits, self.monitored
        self._reset_taps()
        first, converged = None, True
        sched = self.tap_schedule if self.cfg.regulators == "baseline" else None
        taps = []
        order = range(t_n) if steps is None else np.asarray(steps).tolist()
        for t in order:
            if sched is not None:
                self._set_taps(sched[t])
            elif t != order[0] and (self.cfg.regulators == "controlled" or record_taps):
                self._reset_taps()  # each step starts from the published taps
            self._write_step(day.load_mult[t], inj_p[t], inj_q[t])
            dss.Solution.Solve()
            mag = np.asarray(dss.Circuit.AllBusMagPu())[self._node_order]
            ok = bool(dss.Solution.Converged()) and bool(np.isfinite(mag).all())
            ok = ok and float(mag.max()) < 2.0
            if not ok:
                self._dirty = True
                converged = False
                first = first or (t, "diverged", "power flow")
                break
            vmax[t, mon] = np.maximum.reduceat(mag, self._starts)
            vmin[t, mon] = np.minimum.reduceat(mag, self._starts)
            if record_taps:
                taps.append(self._read_taps())
            pct = np.asarray(dss.PDElements.AllPctNorm())
            loading[t] = np.maximum.reduceat(pct[self._pd_rows], self._pd_starts)
            if powers:
                pb[t], qb[t] = self._branch_powers()
            if first is None:
                first = self._violation(t, vmax[t], vmin[t], loading[t], lim)
                if first is not None and stop_at_violation:
                    break
        if record_taps and len(taps) == t_n and steps is None:
            self.tap_schedule = np.array(taps)
        return DayResult(first is None and converged, first, vmax, vmin, loading, pb, qb,
                         converged)

    def _violation(self, t: int, vmax: np.ndarray, vmin: np.ndarray, loading: np.ndarray,
                   lim: Limits) -> tuple[int, str, str] | None:
        mon = self.monitored
        over = vmax[mon] - lim.v_max[mon]
        if over.max() > TOL:
            return t, "v_max", self.net.buses[mon[int(over.argmax())]]
        under = lim.v_min[mon] - vmin[mon]
        if under.max() > TOL:
            return t, "v_min", self.net.buses[mon[int(under.argmax())]]
        ov = loading - lim.loading
        if ov.max() > 1e-4:
            return t, "loading", self.net.branch_names[int(ov.argmax())]
        return None
