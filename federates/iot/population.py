"""Build a device population from a spec and a feeder's load table (no HELICS, no I/O).

Hierarchy: every house is a secondary market agent (SMA) hanging from a primary-feeder bus,
which is its secondary market operator (SMO, id = bus name). Houses sit on one phase of
their bus. Houses are allocated to buses in proportion to the buses' spot-load kW (at least
one per load bus) and, inside a bus, to its phases by kW. With `match_bus_loads`, a residual
constant-PQ load per (bus, phase) makes houses' nominal demand + residual equal the spot load.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from federates.iot import battery as bat
from federates.iot import ev as evm
from federates.iot import waterheater as wh
from federates.iot.house_params import HouseDraw, draw_houses
from federates.iot.pv import PvParams
from federates.iot.spec import PopulationSpec, resolve

HOUSE_PF = 0.95  # plug loads and HVAC motors (lagging)


@dataclass
class Population:
    """All devices as arrays; `*_house` arrays index the owning house."""

    agents: np.ndarray  # house / SMA ids
    smos: list[str]  # SMO ids (buses), sorted
    smo_index: np.ndarray  # per house, index into smos
    bus_phases: list[tuple[str, int]]  # (bus, phase) load points, sorted
    bp_index: np.ndarray  # per house, index into bus_phases
    house: HouseDraw
    cool_sp: np.ndarray
    heat_sp: np.ndarray
    deadband: np.ndarray
    comfort_band: np.ndarray
    base_kw: np.ndarray  # mean plug/lighting load
    base_skew_s: np.ndarray
    trust: np.ndarray
    compromised: np.ndarray
    init_offset: np.ndarray  # initial air temperature minus the active setpoint
    init_phase: np.ndarray  # uniform [0, 1): HVAC starts on if below its expected duty
    wh_house: np.ndarray
    tank: wh.TankParams
    pv_house: np.ndarray
    pv: PvParams
    bat_house: np.ndarray
    battery: bat.BatteryParams
    battery_mode: str
    bat_soc0: np.ndarray
    ev_house: np.ndarray
    ev: evm.EvParams
    nominal_kw: np.ndarray
    residual_kw: np.ndarray  # per bus_phase
    residual_kvar: np.ndarray
    spot_kw: np.ndarray  # feeder spot load per bus_phase (what was matched)
    spot_kvar: np.ndarray
    notes: list[str] = field(default_factory=list)

    @property
    def n_houses(self) -> int:
        return len(self.agents)

    def device_counts(self) -> dict[str, int]:
        return {"houses": self.n_houses, "hvac": self.n_houses,
                "waterheater": len(self.wh_house), "pv": len(self.pv_house),
                "battery": len(self.bat_house), "ev": len(self.ev_house)}

    def n_devices(self) -> int:
        c = self.device_counts()
        return sum(v for k, v in c.items() if k != "houses")

    def houses_table(self) -> pd.DataFrame:
        """One row per house: agent, smo, phase, devices, key parameters."""
        n = self.n_houses
        has = {name: np.isin(np.arange(n), idx) for name, idx in (
            ("waterheater", self.wh_house), ("pv", self.pv_house),
            ("battery", self.bat_house), ("ev", self.ev_house))}
        return pd.DataFrame({
            "agent": self.agents, "smo": np.array(self.smos)[self.smo_index],
            "phase": [self.bus_phases[i][1] for i in self.bp_index],
            "floor_area_m2": self.house.floor_area_m2, "ua_kw_k": self.house.etp.ua,
            "cool_cap_kw": self.house.hvac.cool_cap_kw, "cool_sp": self.cool_sp,
            "trust": self.trust, "compromised": self.compromised, **has,
        })


def load_points(loads: pd.DataFrame) -> pd.DataFrame:
    """(bus, phase, kw, kvar) per load point from a feeder load table.

    `loads` needs bus, kw, kvar and either `nodes` ('1.2.3') or `phases` (count or list);
    multi-phase loads are split equally over their phases.
    """
    rows = []
    for r in loads.itertuples(index=False):
        nodes = getattr(r, "nodes", None)
        if isinstance(nodes, str) and nodes:
            ph = [int(x) for x in nodes.split(".") if x and x != "0"]
        else:
            p = getattr(r, "phases", 3)
            ph = list(p) if isinstance(p, list | tuple) else list(range(1, int(p) + 1))
        for phase in ph:
            rows.append((str(r.bus), phase, float(r.kw) / len(ph), float(r.kvar) / len(ph)))
    df = pd.DataFrame(rows, columns=["bus", "phase", "kw", "kvar"])
    return df.groupby(["bus", "phase"], as_index=False).sum().sort_values(
        ["bus", "phase"], key=lambda s: s.map(_natural) if s.name == "bus" else s
    ).reset_index(drop=True)


def _natural(bus: str) -> tuple:
    return (0, int(bus), "") if bus.isdigit() else (1, 0, bus)


def largest_remainder(total: int, weights: np.ndarray, minimum: int = 0) -> np.ndarray:
    """Integer allocation of `total` proportional to weights, each at least `minimum`."""
    w = np.asarray(weights, dtype=float)
    base = np.full(len(w), minimum, dtype=int)
    rest = total - base.sum()
    if rest < 0:
        raise ValueError(f"cannot place {total} items with at least {minimum} on {len(w)} points")
    if w.sum() <= 0:
        w = np.ones(len(w))
    exact = rest * w / w.sum()
    alloc = np.floor(exact).astype(int)
    short = rest - alloc.sum()
    order = np.argsort(-(exact - alloc), kind="stable")
    alloc[order[:short]] += 1
    return base + alloc


def _houses_per_point(spec: PopulationSpec, points: pd.DataFrame) -> np.ndarray:
    buses = list(dict.fromkeys(points["bus"]))
    bus_kw = points.groupby("bus", sort=False)["kw"].sum().reindex(buses).to_numpy()
    if spec.houses_per_bus is not None:
        unknown = set(spec.houses_per_bus) - set(buses)
        if unknown:
            raise ValueError(f"houses_per_bus: buses {sorted(unknown)} carry no load")
        per_bus = np.array([spec.houses_per_bus.get(b, 0) for b in buses])
    else:
        total = spec.houses if spec.houses is not None else 0
        per_bus = largest_remainder(total, bus_kw, minimum=1 if total >= len(buses) else 0)
    counts = np.zeros(len(points), dtype=int)
    for b, n in zip(buses, per_bus, strict=True):
        idx = np.flatnonzero(points["bus"].to_numpy() == b)
        counts[idx] = largest_remainder(int(n), points["kw"].to_numpy()[idx])
    return counts


def _pick(rng: np.random.Generator, n: int, smo_index: np.ndarray, n_buses: int | None,
          prefer: np.ndarray | None = None, bus_pool: np.ndarray | None = None) -> np.ndarray:
    """Choose n distinct houses, optionally on n_buses buses, preferring `prefer` houses."""
    if n == 0:
        return np.zeros(0, dtype=int)
    houses = np.arange(len(smo_index))
    if n_buses is not None:
        pool = np.unique(smo_index) if bus_pool is None else bus_pool
        extra = np.setdiff1d(np.unique(smo_index), pool)
        chosen = rng.permutation(pool)[:n_buses]
        if len(chosen) < n_buses:
            chosen = np.concatenate([chosen, rng.permutation(extra)[:n_buses - len(chosen)]])
        # add buses until there are enough houses
        order = np.concatenate([chosen, rng.permutation(np.setdiff1d(np.unique(smo_index),
                                                                     chosen))])
        k = n_buses
        while np.isin(smo_index, order[:k]).sum() < n:
            k += 1
        houses = houses[np.isin(smo_index, order[:k])]
        # one device per chosen bus first, so every chosen bus hosts at least one
        first = np.array([rng.choice(houses[smo_index[houses] == b]) for b in order[:k]])
    else:
        first = np.zeros(0, dtype=int)
    rest = np.setdiff1d(houses, first)
    key = rng.random(len(rest))
    if prefer is not None:
        key = key - np.isin(rest, prefer)  # preferred houses first
    picked = np.concatenate([first[:n], rest[np.argsort(key)][: max(n - len(first), 0)]])
    return np.sort(picked)


def _ratings(rng: np.random.Generator, n: int, rng_kva: tuple[float, float],
             total: float | None) -> np.ndarray:
    kva = rng.uniform(*rng_kva, n)
    if total is not None and n:
        kva = kva * total / kva.sum()
    return kva


def build(spec: PopulationSpec, loads: pd.DataFrame, seed: int = 0) -> Population:
    """Draw the population. Same spec, loads and seed -> identical population."""
    spec = resolve(spec)
    rng = np.random.default_rng(spec.seed if spec.seed is not None else seed)
    points = load_points(loads)
    counts = _houses_per_point(spec, points)
    bp_index = np.repeat(np.arange(len(points)), counts)
    n = len(bp_index)
    buses = points["bus"].to_numpy()[bp_index]
    smos = sorted(set(points["bus"][counts > 0]), key=_natural)
    smo_lookup = {b: i for i, b in enumerate(smos)}
    smo_index = np.array([smo_lookup[b] for b in buses], dtype=int)
    seq = np.zeros(n, dtype=int)
    for i in range(len(smos)):  # numbering inside each SMO (build time only)
        m = smo_index == i
        seq[m] = np.arange(1, m.sum() + 1)
    agents = np.array([f"h{b}_{k}" for b, k in zip(buses, seq, strict=True)])

    hs = spec.house
    house = draw_houses(rng, n, hs.integrity, hs.floor_area_sf, hs.heat_pump_share,
                        hs.cooling_cop, hs.over_sizing, hs.jitter)
    cool_sp = rng.normal(*hs.cooling_setpoint_c, n).clip(20.0, 28.0)
    heat_sp = np.minimum(rng.normal(*hs.heating_setpoint_c, n).clip(16.0, 23.0),
                         cool_sp - 2.0 - hs.deadband_c)
    comfort = rng.uniform(*hs.comfort_band_c, n)
    base_kw = rng.lognormal(np.log(hs.base_load_kw[0]), hs.base_load_kw[1], n)
    trust = rng.beta(*hs.trust, n)
    compromised = rng.random(n) < hs.compromised_share
    spread = rng.uniform(-hs.initial_temp_spread_c, hs.initial_temp_spread_c, n)
    init_phase = rng.random(n)

    wh_house = _pick(rng, spec.waterheater.number(n), smo_index, spec.waterheater.buses)
    tank = wh.draw_tanks(rng, len(wh_house))
    pv_house = _pick(rng, spec.pv.number(n), smo_index, spec.pv.buses)
    pv_kva = _ratings(rng, len(pv_house), spec.pv.kva, spec.pv.total_kva)
    pv = PvParams(s_rated_kva=pv_kva, dc_kw=pv_kva * spec.pv.dc_ac_ratio,
                  derate=rng.uniform(0.84, 0.9, len(pv_house)), pf=spec.pv.pf,
                  volt_var=spec.pv.volt_var)
    bat_house = _pick(rng, spec.battery.number(n), smo_index, spec.battery.buses,
                      prefer=pv_house, bus_pool=np.unique(smo_index[pv_house]))
    battery = bat.draw_batteries(rng, _ratings(rng, len(bat_house), spec.battery.kva,
                                               spec.battery.total_kva))
    soc0 = rng.uniform(*spec.battery.initial_soc, len(bat_house))
    ev_house = _pick(rng, spec.ev.number(n), smo_index, spec.ev.buses)
    evs = evm.draw_evs(rng, len(ev_house), spec.ev.v2g_share)

    cool_p_design = house.hvac.cool_cap_kw / house.hvac.cool_cop
    nominal = base_kw + spec.design_duty * cool_p_design
    np.add.at(nominal, wh_house, 0.1 * tank.element_kw)
    house_kw = np.bincount(bp_index, nominal, minlength=len(points))
    spot_kw, spot_kvar = points["kw"].to_numpy(), points["kvar"].to_numpy()
    notes: list[str] = []
    if spec.match_bus_loads:
        house_kvar = house_kw * np.tan(np.arccos(HOUSE_PF))
        residual_kw, residual_kvar = spot_kw - house_kw, spot_kvar - house_kvar
        short = residual_kw < 0
        if short.any():
            notes.append(f"{int(short.sum())} load points have more house demand than spot "
                         "load; their residual is a negative constant load")
    else:
        residual_kw = residual_kvar = np.zeros(len(points))
    return Population(
        agents=agents, smos=smos, smo_index=smo_index,
        bus_phases=list(zip(points["bus"], points["phase"].astype(int), strict=True)),
        bp_index=bp_index, house=house, cool_sp=cool_sp, heat_sp=heat_sp,
        deadband=np.full(n, hs.deadband_c), comfort_band=comfort, base_kw=base_kw,
        base_skew_s=rng.normal(0.0, 1200.0, n), trust=trust, compromised=compromised,
        init_offset=spread, init_phase=init_phase, wh_house=wh_house, tank=tank,
        pv_house=pv_house, pv=pv,
        bat_house=bat_house, battery=battery, battery_mode=spec.battery.mode, bat_soc0=soc0,
        ev_house=ev_house, ev=evs, nominal_kw=nominal, residual_kw=residual_kw,
        residual_kvar=residual_kvar, spot_kw=spot_kw, spot_kvar=spot_kvar, notes=notes,
    )
