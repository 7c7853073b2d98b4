"""Voltage and current sensitivities Gamma at the day-ahead point.

Two independent ways: central +/- perturbations of the prosumers' bus loads in OpenDSS
(the default), and the analytic AC power-flow Jacobian of the balanced single-phase
equivalent built from the feeder's branch impedances, evaluated at the OpenDSS voltages.
Gamma^PV / Gamma^QV are in p.u. per MW / MVAr of injection, Gamma^PI / Gamma^QI in A per MW
/ MVAr. Buses and branches follow the feeder's ``Network`` order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import opendssdirect as dss

import feeders


@dataclass(frozen=True)
class OperatingPoint:
    """One AC power-flow solution: |V| (p.u.) per bus, |I| (A) per branch, losses."""

    v_pu: np.ndarray
    angle_rad: np.ndarray
    i_a: np.ndarray
    losses_kw: float


@dataclass(frozen=True)
class Sensitivities:
    """Gamma columns of the prosumers' buses (rows: network buses / branches)."""

    pv: np.ndarray
    qv: np.ndarray
    pi: np.ndarray
    qi: np.ndarray


class FeederSolver:
    """OpenDSS model of a balanced feeder whose bus loads can be shifted and re-solved."""

    def __init__(self, feeder_name: str, source_v_pu: float = 1.0,
                 scheduled_dg_kw: dict[str, float] | None = None) -> None:
        self.feeder = feeders.load(feeder_name)
        self.net = self.feeder.network
        for cmd in self.feeder.dss_commands():
            dss.Text.Command(cmd)
        dss.Text.Command(f"Edit Vsource.source pu={source_v_pu}")
        # the default tolerance (1e-4) is coarser than a 1 kW perturbation's effect
        dss.Text.Command("Set tolerance=1e-12")
        dss.Text.Command("Set maxiterations=200")
        loads = self.feeder.loads
        self._base = {str(b): (float(g.kw.sum()), float(g.kvar.sum()), list(g.name))
                      for b, g in loads.groupby("bus")}
        self._names = {str(r.name): (float(r.kw), float(r.kvar)) for r in loads.itertuples()}
        self._dg = {str(k): float(v) for k, v in (scheduled_dg_kw or {}).items()}
        self.shift: dict[str, tuple[float, float]] = {}
        for bus in self._dg:
            if bus not in self.net.bus_index:
                raise ValueError(f"scheduled_dg_kw: unknown bus {bus!r}")
        self._line_names = [b.split(".", 1)[-1] for b in self._branch_elements()]

    def _branch_elements(self) -> list[str]:
        return [els[0] for els in self.net.branch_elements]

    def _ensure_slot(self, bus: str) -> None:
        """A constant-PQ load at ``bus`` carrying injections (created on first use)."""
        if bus in self._base and self._base[bus][2]:
            return
        dss.Text.Command(f"New Load.inj_{bus} bus1={bus} phases=3 conn=wye model=1 "
                         f"kv={self.feeder.base_kv_ll} kw=0 kvar=0 vminpu=0.5 vmaxpu=1.5")
        self._base[bus] = (0.0, 0.0, [f"inj_{bus}"])
        self._names[f"inj_{bus}"] = (0.0, 0.0)

    def solve(self, injection_kw: dict[str, tuple[float, float]] | None = None
              ) -> OperatingPoint:
        """Solve with extra injections ``{bus: (kW, kVAr)}`` on top of the DA schedule."""
        inj: dict[str, list[float]] = {b: [p, 0.0] for b, p in self._dg.items()}
        for b, (p, q) in (injection_kw or {}).items():
            cur = inj.setdefault(str(b), [0.0, 0.0])
            cur[0] += p
            cur[1] += q
        touched = set(inj) | set(self.shift)
        for bus in touched:
            self._ensure_slot(bus)
            p_inj, q_inj = inj.get(bus, (0.0, 0.0))
            kw0, kvar0, names = self._base[bus]
            first = names[0]
            p0, q0 = self._names[first]
            dss.Text.Command(f"Edit Load.{first} kw={p0 - p_inj} kvar={q0 - q_inj}")
        self.shift = {b: (v[0], v[1]) for b, v in inj.items()}
        dss.Solution.Solve()
        if not dss.Solution.Converged():
            raise RuntimeError("OpenDSS power flow did not converge")
        return self._read()

    def _read(self) -> OperatingPoint:
        n = self.net
        v = np.empty(n.n_buses)
        ang = np.empty(n.n_buses)
        for k, bus in enumerate(n.buses):
            dss.Circuit.SetActiveBus(bus)
            mag_ang = dss.Bus.puVmagAngle()
            v[k], ang[k] = mag_ang[0], np.deg2rad(mag_ang[1])
        i = np.empty(n.n_branches)
        for k, el in enumerate(self._branch_elements()):
            dss.Circuit.SetActiveElement(el)
            i[k] = dss.CktElement.CurrentsMagAng()[0]
        return OperatingPoint(v, ang, i, float(dss.Circuit.Losses()[0]) / 1000.0)

    def sensitivities(self, buses: list[str], step_kw: float = 1.0) -> Sensitivities:
        """Central differences of |V| and |I| for +/- ``step_kw`` kW and kVAr at each bus."""
        cols = {k: [] for k in ("pv", "qv", "pi", "qi")}
        for bus in buses:
            for kind, vec in (("p", (step_kw, 0.0)), ("q", (0.0, step_kw))):
                up = self.solve({bus: vec})
                dn = self.solve({bus: (-vec[0], -vec[1])})
                scale = 2.0 * step_kw / 1000.0  # MW or MVAr
                cols[kind + "v"].append((up.v_pu - dn.v_pu) / scale)
                cols[kind + "i"].append((up.i_a - dn.i_a) / scale)
        self.solve()
        return Sensitivities(*(np.column_stack(cols[k]) for k in ("pv", "qv", "pi", "qi")))


def jacobian_sensitivities(net, point: OperatingPoint, buses: list[str],
                           base_kv_ll: float, source: int = 0) -> Sensitivities:
    """Gamma from the inverse AC power-flow Jacobian (polar form) at ``point``.

    Single-phase equivalent of the balanced feeder with the positive-sequence branch
    impedances; loads are constant power, so only the network enters the Jacobian.
    """
    s_base_mva = net.s_base_kva / 1000.0
    z_base = base_kv_ll**2 / s_base_mva
    z = (net.r_ohm + 1j * net.x_ohm) / z_base
    y = 1.0 / z
    nb = net.n_buses
    ybus = np.zeros((nb, nb), dtype=complex)
    f, t = net.from_bus, net.to_bus
    np.add.at(ybus, (f, f), y)
    np.add.at(ybus, (t, t), y)
    np.add.at(ybus, (f, t), -y)
    np.add.at(ybus, (t, f), -y)
    vc = point.v_pu * np.exp(1j * point.angle_rad)
    ibus = ybus @ vc
    diag_v = np.diag(vc)
    diag_vn = np.diag(vc / np.abs(vc))
    ds_dth = 1j * diag_v @ np.conj(np.diag(ibus) - ybus @ diag_v)
    ds_dvm = diag_v @ np.conj(ybus @ diag_vn) + np.conj(np.diag(ibus)) @ diag_vn
    pq = np.array([k for k in range(nb) if k != source])
    jac = np.block([[ds_dth.real[np.ix_(pq, pq)], ds_dvm.real[np.ix_(pq, pq)]],
                    [ds_dth.imag[np.ix_(pq, pq)], ds_dvm.imag[np.ix_(pq, pq)]]])
    npq = len(pq)
    i_base = s_base_mva * 1000.0 / (np.sqrt(3.0) * base_kv_ll)  # A
    i_br = (vc[f] - vc[t]) * y
    out = {k: [] for k in ("pv", "qv", "pi", "qi")}
    for bus in buses:
        k = int(np.where(pq == net.bus_index[bus])[0][0])
        for kind, row in (("p", k), ("q", npq + k)):
            rhs = np.zeros(2 * npq)
            rhs[row] = 1.0 / s_base_mva  # 1 MW (MVAr) in p.u.
            dx = np.linalg.solve(jac, rhs)
            dth = np.zeros(nb)
            dvm = np.zeros(nb)
            dth[pq], dvm[pq] = dx[:npq], dx[npq:]
            dv = np.exp(1j * point.angle_rad) * (dvm + 1j * point.v_pu * dth)
            di = (dv[f] - dv[t]) * y
            dmag = np.real(np.conj(i_br) * di) / np.abs(i_br)
            out[kind + "v"].append(dvm)
            out[kind + "i"].append(dmag * i_base)
    return Sensitivities(*(np.column_stack(out[k]) for k in ("pv", "qv", "pi", "qi")))
