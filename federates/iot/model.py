"""Time-stepping of a whole population (pure, vectorised; no HELICS).

Each `step(t, dt)` holds inputs constant over [t, t + dt): weather at t, thermostat and
dispatch decisions taken at t. It returns the average power of every device over the step
(what the grid sees at t) and advances all states exactly to t + dt.

Control precedence per device: attack (forced on/off, setpoint shift, generation offline) >
market dispatch (constant power until the end of its period) > local control (thermostats,
uncontrolled EV charging, battery self-consumption).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from federates.common.weather import Weather
from federates.iot import battery as bat
from federates.iot import ev as evm
from federates.iot import thermal as th
from federates.iot import waterheater as wh
from federates.iot.loadshape import base_factor
from federates.iot.population import HOUSE_PF, Population
from federates.iot.pv import available_kw, pv_output

TAN_HOUSE = float(np.tan(np.arccos(HOUSE_PF)))
SOLAR_INCIDENCE = 0.5  # mean irradiance on windows / GHI
BALANCE_POINT_C = 18.3
_FMAX = float(np.finfo(float).max)


def nan0(x: np.ndarray) -> np.ndarray:
    """np.nan_to_num of a float array (NaN -> 0, +-inf -> +-largest float), bit for bit,
    without its per-call overhead (a step needs it for every dispatch array)."""
    return np.minimum(np.maximum(np.where(np.isnan(x), 0.0, x), -_FMAX), _FMAX)


@dataclass(frozen=True)
class Conditions:
    """What a step at time t sees from outside: base load and solar gain per house,
    outdoor temperature, GHI, and the HVAC limits at that temperature (read-only arrays)."""

    base: np.ndarray
    solar: np.ndarray
    to: float
    ghi: float
    lim: th.HvacLimits


@dataclass
class StepResult:
    """Average device powers over one step (load convention) and states at its end."""

    time: float
    dt: float
    hvac_kw: np.ndarray
    base_kw: np.ndarray
    wh_kw: np.ndarray
    pv_kw: np.ndarray
    pv_kvar: np.ndarray
    bat_kw: np.ndarray
    bat_kvar: np.ndarray
    ev_kw: np.ndarray
    house_kw: np.ndarray
    house_kvar: np.ndarray
    bus_kw: np.ndarray  # per (bus, phase), residual included
    bus_kvar: np.ndarray
    hvac_unexpected: np.ndarray  # HVAC state contradicts the house's own thermostat


class PopulationModel:
    """Holds the population's state; `step` advances it."""

    def __init__(self, pop: Population, weather: Weather, start_time: float = 0.0):
        self.pop, self.weather = pop, weather
        # conditions by time: a bid's look-ahead computes those of the next steps
        self._conditions: dict[float, Conditions] = {}
        n = pop.n_houses
        # season from the day's mean outdoor temperature (degree-day base 18.3 degC)
        cooling = np.full(n, float(np.mean(weather.temp_c)) >= BALANCE_POINT_C)
        self.mode_cool = cooling.copy()
        self.ta = np.where(cooling, pop.cool_sp, pop.heat_sp) + pop.init_offset
        self.tm = self.ta.copy()
        # thermostats at a random phase of their cycle, on with the expected duty cycle
        c = self.conditions(start_time)
        base, solar, to, lim = c.base, c.solar, c.to, c.lim
        q_hold = pop.house.etp.ua * (self.ta - to) - base - solar  # heat needed to hold Ta
        duty = np.where(cooling, -q_hold / np.maximum(lim.cool_q_kw, 1e-9),
                        q_hold / np.maximum(lim.heat_q_kw, 1e-9))
        on = pop.init_phase < np.clip(duty, 0.0, 1.0)
        self.cool_on, self.heat_on = cooling & on, ~cooling & on
        self.wh_temp = pop.tank.setpoint_c - 0.5 * pop.tank.deadband_c
        self.wh_on = np.zeros(len(pop.wh_house), bool)
        self.bat_e = pop.bat_soc0 * pop.battery.capacity_kwh
        plugged = evm.connected(pop.ev, start_time)
        self.ev_soc = np.where(plugged, 0.5 * (pop.ev.soc_arrival + pop.ev.soc_target),
                               pop.ev.soc_arrival)
        self.sp_offset = np.zeros(n)  # thermostat offset from attacks [degC]
        self.force = np.zeros(n, np.int8)  # +1 forced on, -1 forced off (attack)
        self.dg_off = np.zeros(n, bool)  # generation taken offline (DG attack)
        self.dg_bat_hold = np.zeros(len(pop.bat_house))  # charging held under DG [kW, >= 0]
        self.disp_hvac = np.full(n, np.nan)
        self.disp_wh = np.full(len(pop.wh_house), np.nan)
        self.disp_pv = np.full(len(pop.pv_house), np.nan)
        self.disp_pv_q = np.full(len(pop.pv_house), np.nan)  # reactive setpoints [kvar]
        self.disp_bat_q = np.full(len(pop.bat_house), np.nan)
        self.disp_bat = np.full(len(pop.bat_house), np.nan)
        self.disp_ev = np.full(len(pop.ev_house), np.nan)
        self.disp_until = np.full(n, -np.inf)
        self.disp_cooling = np.ones(n, bool)  # HVAC mode frozen while dispatched
        self.disp_hp_max = np.zeros(n)  # compressor share of a heating dispatch [kW]
        self._props: dict[float, th.EtpPropagator] = {}
        self._aux_cap = np.nan_to_num(pop.house.hvac.aux_cap_kw)
        self.v_pu: np.ndarray | None = None  # per (bus, phase), for volt-var

    # ---------------------------------------------------------------- helpers
    def propagator(self, dt: float) -> th.EtpPropagator:
        if dt not in self._props:
            self._props[dt] = th.propagator(self.pop.house.etp, dt)
        return self._props[dt]

    def cooling_mode(self) -> np.ndarray:
        """HVAC mode (GridLAB-D 'auto'): cooling above the cooling setpoint, heating below the
        heating setpoint, unchanged in between (a copy)."""
        return self.mode_cool.copy()

    def gains(self, t: float) -> tuple[np.ndarray, np.ndarray, float, float]:
        """(base load kW per house, solar gain kW per house, To, GHI) at time t."""
        c = self.conditions(t)
        return c.base, c.solar, c.to, c.ghi

    def conditions(self, t: float) -> Conditions:
        """Inputs at time t, computed once per t (the step and the bids' look-ahead both
        need them); entries before the last stepped time are dropped by `step`."""
        c = self._conditions.get(t)
        if c is None:
            to, ghi = self.weather.at(t)
            base = self.pop.base_kw * base_factor(t, self.pop.base_skew_s)
            solar = self.pop.house.solar_factor_m2 * SOLAR_INCIDENCE * ghi / 1000.0
            lim = th.hvac_limits(self.pop.house.hvac, float(to))
            for a in (base, solar, lim.cool_q_kw, lim.cool_p_kw, lim.heat_q_kw, lim.heat_p_kw):
                a.flags.writeable = False  # shared by every user of this time's conditions
            c = self._conditions[t] = Conditions(base, solar, float(to), float(ghi), lim)
        return c

    def attacked(self) -> np.ndarray:
        return (self.force != 0) | (self.sp_offset != 0) | self.dg_off

    def dispatched(self, t: float) -> np.ndarray:
        """Houses following a market setpoint at t. Houses whose loads an attacker controls
        ignore setpoints; a DG attack takes only the generation (PV and battery overrides in
        `step`), the house's loads keep following their dispatch."""
        return (t < self.disp_until) & (self.force == 0) & (self.sp_offset == 0)

    def comfort_violations(self) -> np.ndarray:
        p = self.pop
        return (self.ta > p.cool_sp + p.comfort_band) | (self.ta < p.heat_sp - p.comfort_band)

    # ---------------------------------------------------------------- the step
    def step(self, t: float, dt: float) -> StepResult:
        p = self.pop
        c = self.conditions(t)
        for stale in [k for k in self._conditions if k < t]:
            del self._conditions[stale]
        base, solar, to, ghi, lim = c.base, c.solar, c.to, c.ghi, c.lim
        active = self.dispatched(t)

        # HVAC: thermostat (with attack offsets), then dispatch, then forcing
        cool_on, heat_on = th.thermostat(self.ta, self.cool_on, self.heat_on,
                                         p.cool_sp + self.sp_offset, p.heat_sp + self.sp_offset,
                                         p.deadband)
        self.cool_on, self.heat_on = cool_on, heat_on
        if self.sp_offset.any():  # what the house's own (unshifted) thermostat would do
            own_cool, own_heat = th.thermostat(self.ta, cool_on, heat_on, p.cool_sp,
                                               p.heat_sp, p.deadband)
        else:
            own_cool, own_heat = cool_on, heat_on
        cool_d, heat_d = cool_on.astype(float), heat_on.astype(float)
        self.mode_cool = np.where(active, self.disp_cooling, np.where(
            self.ta > p.cool_sp, True, np.where(self.ta < p.heat_sp, False, self.mode_cool)))
        cooling = self.mode_cool
        use = active & ~np.isnan(self.disp_hvac)
        disp_hvac = nan0(self.disp_hvac)
        d_c = np.clip(disp_hvac / np.maximum(lim.cool_p_kw, 1e-9), 0, 1)
        hp_kw = np.minimum(disp_hvac, self.disp_hp_max)
        d_h = np.clip(hp_kw / np.maximum(lim.heat_p_kw, 1e-9), 0, 1)
        disp_aux = np.where(use & ~cooling, np.clip(disp_hvac - hp_kw, 0, self._aux_cap), 0.0)
        cool_d = np.where(use, np.where(cooling, d_c, 0.0), cool_d)
        heat_d = np.where(use, np.where(cooling, 0.0, d_h), heat_d)
        on = self.force > 0
        cool_d = np.where(on & cooling, 1.0, np.where(self.force < 0, 0.0, cool_d))
        heat_d = np.where(on & ~cooling, 1.0, np.where(self.force < 0, 0.0, heat_d))
        aux = th.aux_on(self.ta, heat_on & ~use & (self.force == 0), p.heat_sp + self.sp_offset,
                        p.deadband, p.house.hvac)
        aux_kw = np.where(aux, self._aux_cap, 0.0) + disp_aux
        hvac_kw = cool_d * lim.cool_p_kw + heat_d * lim.heat_p_kw + aux_kw
        unexpected = ((cool_d > 0) & ~own_cool & (self.ta < p.cool_sp - p.deadband)) | (
            (cool_d == 0) & own_cool & (self.ta > p.cool_sp + p.deadband)) | (
            (heat_d > 0) & ~own_heat & (self.ta > p.heat_sp + p.deadband))
        q_hvac = heat_d * lim.heat_q_kw - cool_d * lim.cool_q_kw + aux_kw
        qa, qm = th.split_gains(q_hvac, base, solar)
        self.ta, self.tm = th.etp_step(p.house.etp, self.propagator(dt), self.ta, self.tm,
                                       np.full_like(self.ta, to), qa, qm)

        # water heaters
        wi = p.wh_house
        self.wh_on = wh.tank_thermostat(self.wh_temp, self.wh_on, p.tank)
        wh_kw = np.where(self.wh_on, p.tank.element_kw, 0.0)
        use_w = active[wi] & ~np.isnan(self.disp_wh)
        wh_kw = np.where(use_w, np.clip(nan0(self.disp_wh), 0, p.tank.element_kw),
                         wh_kw)
        wh_kw = np.where(self.force[wi] > 0, p.tank.element_kw,
                         np.where(self.force[wi] < 0, 0.0, wh_kw))
        self.wh_temp = wh.tank_step(p.tank, self.wh_temp, wh_kw, wh.draw_rate_kw_k(p.tank, t), dt)

        # PV (curtailment cap from dispatch; disconnected under a DG attack)
        pi = p.pv_house
        avail = available_kw(p.pv, ghi, to)
        cap = np.where(active[pi] & ~np.isnan(self.disp_pv), -nan0(self.disp_pv),
                       np.inf)
        cap = np.where(self.dg_off[pi], 0.0, cap)
        v = None if self.v_pu is None else self.v_pu[p.bp_index[pi]]
        pv_kw, pv_kvar = pv_output(p.pv, avail, cap, v)
        use_q = active[pi] & ~np.isnan(self.disp_pv_q)
        head = np.sqrt(np.maximum(p.pv.s_rated_kva**2 - pv_kw**2, 0.0))
        pv_kvar = np.where(use_q, np.clip(nan0(self.disp_pv_q), -head, head), pv_kvar)
        pv_kvar = np.where(self.dg_off[pi], 0.0, pv_kvar)

        # EVs: uncontrolled, dispatched, or forced to charge
        ei = p.ev_house
        ev_cmd = evm.uncontrolled_kw(p.ev, self.ev_soc, t, dt)
        ev_cmd = np.where(active[ei] & ~np.isnan(self.disp_ev), nan0(self.disp_ev),
                          ev_cmd)
        ev_cmd = np.where(self.force[ei] > 0, p.ev.charger_kw,
                          np.where(self.force[ei] < 0, 0.0, ev_cmd))
        ev_kw, self.ev_soc = evm.ev_step(p.ev, self.ev_soc, ev_cmd, t, dt)

        # batteries: self-consumption of the house's net load unless dispatched
        n = p.n_houses
        net = base + hvac_kw
        np.add.at(net, wi, wh_kw)
        np.add.at(net, pi, pv_kw)
        np.add.at(net, ei, ev_kw)
        bi = p.bat_house
        local = -net[bi] if p.battery_mode == "self_consumption" else np.zeros(len(bi))
        b_cmd = np.where(active[bi] & ~np.isnan(self.disp_bat), nan0(self.disp_bat),
                         local)
        # DG attack: no discharge; a battery keeps the charging it had when taken over
        b_cmd = np.where(self.dg_off[bi], self.dg_bat_hold, b_cmd)
        bat_kw, self.bat_e = bat.battery_step(p.battery, self.bat_e, b_cmd, dt)
        np.add.at(net, bi, bat_kw)
        head = np.sqrt(np.maximum(p.battery.p_rated_kw**2 - bat_kw**2, 0.0))
        bat_kvar = np.where(active[bi] & ~np.isnan(self.disp_bat_q) & ~self.dg_off[bi],
                            np.clip(nan0(self.disp_bat_q), -head, head), 0.0)

        house_kvar = (base + hvac_kw) * TAN_HOUSE
        np.add.at(house_kvar, pi, pv_kvar)
        np.add.at(house_kvar, bi, bat_kvar)
        m = len(p.bus_phases)
        bus_kw = np.bincount(p.bp_index, net, minlength=m) + p.residual_kw
        bus_kvar = np.bincount(p.bp_index, house_kvar, minlength=m) + p.residual_kvar
        assert len(net) == n
        return StepResult(t, dt, hvac_kw, base, wh_kw, pv_kw, pv_kvar, bat_kw, bat_kvar, ev_kw, net,
                          house_kvar, bus_kw, bus_kvar, unexpected)


def settled_model(pop: Population, weather: Weather, start_time: float, spin_up_s: float,
                  dt: float) -> PopulationModel:
    """A model whose state at `start_time` comes from running the devices under their own
    local control for `spin_up_s` before it (in steps of `dt`).

    `PopulationModel` starts every house with its mass at the air temperature and its
    thermostat at the expected duty cycle, which under-states a hot afternoon's load by up
    to ~20 % for the first hours (the building mass has not soaked up the day's heat yet,
    water heaters and EV batteries start from nominal states). A day of spin-up settles the
    population to within ~1 % of a longer one.
    """
    n = int(round(spin_up_s / dt)) if spin_up_s > 0 else 0
    t0 = start_time - n * dt
    model = PopulationModel(pop, weather, t0)
    for k in range(n):
        model.step(t0 + k * dt, dt)
    return model
