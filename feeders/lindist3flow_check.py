"""Validate :class:`~feeders.lindist3flow.LinDist3Flow` against an OpenDSS power flow.

OpenDSS runs the same feeder with the same locked taps (RegControls disabled, control mode
off), every load constant PQ (``model=1``, ``vminpu=0.5``, ``vmaxpu=1.5`` so that OpenDSS
does not switch them to constant impedance), each load row scaled by the scenario's factor,
and one extra wye load per node-phase carrying the extra injections (PV: negative kW).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import opendssdirect as dss

from feeders.lindist3flow import LinDist3Flow
from feeders.lindist3flow_injections import PHASOR

WIDE_PQ = "model=1 vminpu=0.5 vmaxpu=1.5"


@dataclass(frozen=True)
class Scenario:
    """Load scale factors (one per load row) and extra injections (kW, kvar per
    node-phase, load convention: PV output is negative)."""

    load_scale: np.ndarray
    p_extra_kw: np.ndarray
    q_extra_kvar: np.ndarray


@dataclass(frozen=True)
class PowerFlow:
    """OpenDSS result on the model's node-phases and branch-phases."""

    v_pu: np.ndarray
    p_kw: np.ndarray
    q_kvar: np.ndarray
    theta_rad: np.ndarray
    """Angle minus the nominal phase angle and the source angle (rad, in (-pi, pi])."""


class OpenDssReference:
    """The feeder compiled in OpenDSS, re-solved for each scenario. OpenDSS holds one
    circuit per process: a reference recompiles its circuit when another one was compiled
    since."""

    _active: OpenDssReference | None = None

    def __init__(self, model: LinDist3Flow) -> None:
        self.model = model
        feeder = model.feeder
        cmds = [c for c in feeder.dss_commands(taps=model.taps, lock_controls=True)
                if not c.lower().startswith("new load.")]
        self.load_names = []
        for n, row in enumerate(feeder.tables.loads.itertuples(index=False)):
            name = f"ld{n}"
            bus = f"{row.bus}.{row.nodes}" if row.nodes else row.bus
            cmds.append(f"New Load.{name} bus1={bus} phases={row.phases} conn={row.conn} "
                        f"kv={row.kv} kw={row.kw} kvar={row.kvar} {WIDE_PQ}")
            self.load_names.append(name)
        net = model.network
        self.injection_names = []
        for n, (bus, ph) in enumerate(model.node_phases):
            kv = net.base_kv_ln[net.bus_index[bus]]
            cmds.append(f"New Load.inj{n} bus1={bus}.{ph} phases=1 conn=wye kv={kv} "
                        f"kw=0 kvar=0 {WIDE_PQ}")
            self.injection_names.append(f"inj{n}")
        self.nominal = feeder.tables.loads[["kw", "kvar"]].to_numpy(dtype=float)
        self.source_angle_deg = float(feeder.tables.meta["source"].get("angle", 0.0))
        self._commands = cmds + ["Set ControlMode=OFF", "Set MaxIterations=100"]
        self._compile()
        self._terminals = self._branch_terminals()
        self._floating = self._floating_buses()

    def _compile(self) -> None:
        for cmd in self._commands:
            dss.Text.Command(cmd)
        OpenDssReference._active = self

    def _branch_terminals(self) -> list[list[tuple[str, int, float, list[int]]]]:
        """Per branch: (element, terminal, sign, node of each conductor). Lines are read at
        the from-bus terminal; transformers at the secondary (to-bus) terminal with the sign
        flipped, where conductor powers are the wye phase powers the model carries (a
        delta primary mixes phases)."""
        net = self.model.network
        out = []
        for k in range(net.n_branches):
            xf = net.branch_kind[k] in ("transformer", "regulator")
            bus = net.buses[net.to_bus[k] if xf else net.from_bus[k]].lower()
            parts = []
            for element in net.branch_elements[k]:
                dss.Circuit.SetActiveElement(element)
                buses = [b.split(".")[0].lower() for b in dss.CktElement.BusNames()]
                term = buses.index(bus)
                ncond = dss.CktElement.NumConductors()
                nodes = list(dss.CktElement.NodeOrder())[term * ncond:(term + 1) * ncond]
                parts.append((element, term, -1.0 if xf else 1.0, nodes))
            out.append(parts)
        return out

    def _floating_buses(self) -> list[str]:
        """Buses fed through a delta secondary: their node-to-ground voltages float, so the
        reference reads them against the centroid of their phase voltages (the wye
        equivalent the model carries)."""
        net, xf = self.model.network, self.model.feeder.tables.transformers
        delta2 = {f"Transformer.{n}".lower() for n, c in zip(xf["name"], xf["conn2"],
                                                             strict=True)
                  if str(c).lower().startswith("d")}
        out: list[str] = []
        for k in range(net.n_branches):
            if any(e.lower() in delta2 for e in net.branch_elements[k]):
                out += [net.buses[b] for b in net.downstream_buses(int(net.to_bus[k]))]
        return out

    def solve(self, scenario: Scenario) -> PowerFlow:
        """Solve OpenDSS for ``scenario``; raises ``RuntimeError`` if it does not converge."""
        if OpenDssReference._active is not self:
            self._compile()
        for name, f, (kw, kvar) in zip(self.load_names, scenario.load_scale, self.nominal,
                                       strict=True):
            dss.Loads.Name(name)
            dss.Loads.kW(f * kw)
            dss.Loads.kvar(f * kvar)
        for name, p, q in zip(self.injection_names, scenario.p_extra_kw,
                              scenario.q_extra_kvar, strict=True):
            dss.Loads.Name(name)
            dss.Loads.kW(float(p))
            dss.Loads.kvar(float(q))
        dss.Solution.Solve()
        if not dss.Solution.Converged():
            raise RuntimeError("OpenDSS power flow did not converge")
        names = [n.lower() for n in dss.Circuit.AllNodeNames()]
        volts = np.asarray(dss.Circuit.AllBusVolts()).reshape(-1, 2) @ np.array([1.0, 1j])
        mags = dict(zip(names, dss.Circuit.AllBusMagPu(), strict=True))
        phasors = dict(zip(names, volts, strict=True))
        for bus in self._floating:
            dss.Circuit.SetActiveBus(bus)
            vb = np.asarray(dss.Bus.Voltages()).reshape(-1, 2) @ np.array([1.0, 1j])
            base = dss.Bus.kVBase() * 1000.0
            for node, vn in zip(dss.Bus.Nodes(), vb - vb.mean(), strict=True):
                mags[f"{bus}.{node}".lower()] = abs(vn) / base
                phasors[f"{bus}.{node}".lower()] = vn
        labels = [lbl.lower() for lbl in self.model.node_labels()]
        v = np.array([mags[lbl] for lbl in labels])
        nominal = np.array([PHASOR[ph] for _, ph in self.model.node_phases])
        turn = np.exp(-1j * np.radians(self.source_angle_deg))
        theta = np.angle(np.array([phasors[lbl] for lbl in labels]) / nominal * turn)
        p = np.zeros(len(self.model.branch_phases))
        q = np.zeros(len(self.model.branch_phases))
        for k, parts in enumerate(self._terminals):
            for element, term, sign, nodes in parts:
                dss.Circuit.SetActiveElement(element)
                pw = np.asarray(dss.CktElement.Powers()).reshape(-1, 2)
                ncond = len(nodes)
                for node, (pk, qk) in zip(nodes, pw[term * ncond:(term + 1) * ncond],
                                          strict=True):
                    m = self.model.branch_phase_index.get((k, node))
                    if m is not None:
                        p[m] += sign * pk
                        q[m] += sign * qk
        return PowerFlow(v_pu=v, p_kw=p, q_kvar=q, theta_rad=theta)


def model_injections(model: LinDist3Flow, scenario: Scenario) -> tuple[np.ndarray, np.ndarray]:
    """Total per-node-phase injections (kW, kvar) of ``scenario`` for the linear model."""
    p, q = model.load_injections(scenario.load_scale)
    return p + scenario.p_extra_kw, q + scenario.q_extra_kvar


def random_scenarios(model: LinDist3Flow, n: int, seed: int, load_range=(0.5, 1.5),
                     pv_share: float = 0.3, pv_max: float = 1.0) -> list[Scenario]:
    """``n`` seeded scenarios around nominal: every load row scaled by ``U(load_range)``;
    PV (unity power factor) on a random ``pv_share`` of the loaded node-phases, each
    producing ``U(0, pv_max)`` times that node-phase's nominal kW."""
    rng = np.random.default_rng(seed)
    p_nom, _ = model.load_injections(1.0)
    loaded = np.flatnonzero(p_nom > 0)
    n_loads = len(model.feeder.tables.loads)
    out = []
    for _ in range(n):
        scale = rng.uniform(*load_range, size=n_loads)
        pv = np.zeros(len(model.node_phases))
        chosen = rng.choice(loaded, size=max(1, round(pv_share * len(loaded))), replace=False)
        pv[chosen] = -rng.uniform(0.0, pv_max, size=len(chosen)) * p_nom[chosen]
        out.append(Scenario(scale, pv, np.zeros(len(model.node_phases))))
    return out


def compare(model: LinDist3Flow, reference: OpenDssReference, scenarios: list[Scenario],
            loss_passes: int = 0) -> dict[str, float | str]:
    """Max and mean errors of the linear model against OpenDSS over ``scenarios``
    (``loss_passes > 0``: of :meth:`LinDist3Flow.solve_with_losses` instead).

    Voltage errors are in pu of magnitude, angle errors in degrees; flow errors in kW/kvar
    per branch-phase and, as ``*_rel``, relative to the largest OpenDSS branch-phase flow of
    the same scenario."""
    dv, dp, dq, rp, rq, dth = [], [], [], [], [], []
    for sc in scenarios:
        p, q = model_injections(model, sc)
        lin = (model.solve_with_losses(p, q, loss_passes) if loss_passes
               else model.solve(p, q))
        ref = reference.solve(sc)
        dv.append(np.abs(lin.v_pu - ref.v_pu))
        dth.append(np.abs(np.angle(np.exp(1j * (lin.theta_rad - ref.theta_rad)))))
        dp.append(np.abs(lin.p_kw - ref.p_kw))
        dq.append(np.abs(lin.q_kvar - ref.q_kvar))
        rp.append(dp[-1].max() / np.abs(ref.p_kw).max())
        rq.append(dq[-1].max() / np.abs(ref.q_kvar).max())
    dv_a, dp_a, dq_a = np.array(dv), np.array(dp), np.array(dq)
    net = model.network
    k_worst, ph_worst = model.branch_phases[int(np.argmax(dp_a.max(axis=0)))]
    return {
        "samples": len(scenarios),
        "v_max_err_pu": float(dv_a.max()),
        "v_p95_err_pu": float(np.quantile(dv_a, 0.95)),
        "v_mean_err_pu": float(dv_a.mean()),
        "v_worst_node": model.node_labels()[int(np.argmax(dv_a.max(axis=0)))],
        "theta_max_err_deg": float(np.degrees(np.max(dth))),
        "p_worst_branch": f"{net.branch_names[k_worst]}.{ph_worst}",
        "p_max_err_kw": float(dp_a.max()),
        "p_mean_err_kw": float(dp_a.mean()),
        "q_max_err_kvar": float(dq_a.max()),
        "q_mean_err_kvar": float(dq_a.mean()),
        "p_max_err_rel": float(max(rp)),
        "q_max_err_rel": float(max(rq)),
    }
