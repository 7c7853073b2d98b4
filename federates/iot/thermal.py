"""Two-node equivalent thermal parameter (ETP) house model and HVAC, vectorised.

State per house: air temperature Ta and mass temperature Tm [degC]. With piecewise-constant
inputs over a step (outdoor temperature To, heat to air Qa, heat to mass Qm [kW])

    CA dTa/dt = UA (To - Ta) + HM (Tm - Ta) + Qa
    CM dTm/dt = HM (Ta - Tm) + Qm

is linear with constant coefficients, so x(t) = x_ss + expm(A t) (x0 - x_ss) is exact. The
2x2 matrix exponential is done analytically (real distinct eigenvalues) for all houses at
once. Units: UA, HM [kW/K]; CA, CM [kJ/K]; Q [kW]; t [s].

HVAC follows GridLAB-D's house_e: capacity and COP vary with outdoor temperature (curves
normalised to 95 degF for cooling and 47 degF for heat pumps); the cooling capacity is total
(sensible + latent), the air receives -capacity / (1 + latent fraction).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LATENT_LOAD_FRACTION = 0.3
MASS_INTERNAL_GAIN_FRACTION = 0.5
MASS_SOLAR_GAIN_FRACTION = 0.5
HEAT_PUMP, RESISTANCE = 1, 2


@dataclass
class EtpParams:
    """Per-house ETP parameters (arrays of equal length)."""

    ua: np.ndarray  # envelope + infiltration conductance [kW/K]
    ca: np.ndarray  # air heat capacity [kJ/K]
    cm: np.ndarray  # mass heat capacity [kJ/K]
    hm: np.ndarray  # air-mass conductance [kW/K]


@dataclass
class EtpPropagator:
    """expm(A dt) entries for every house, for one step length dt [s]."""

    dt: float
    e11: np.ndarray
    e12: np.ndarray
    e21: np.ndarray
    e22: np.ndarray


def system_matrix(p: EtpParams) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Entries (a, b, c, d) of A = [[a, b], [c, d]] [1/s]."""
    return -(p.ua + p.hm) / p.ca, p.hm / p.ca, p.hm / p.cm, -p.hm / p.cm


def eigenvalues(p: EtpParams) -> tuple[np.ndarray, np.ndarray]:
    """The two real negative eigenvalues r1 > r2 of A [1/s]."""
    a, b, c, d = system_matrix(p)
    tr, disc = a + d, np.sqrt((a - d) ** 2 + 4.0 * b * c)
    return 0.5 * (tr + disc), 0.5 * (tr - disc)


def propagator(p: EtpParams, dt: float) -> EtpPropagator:
    """expm(A dt) = (e^{r1 dt}(A - r2 I) - e^{r2 dt}(A - r1 I)) / (r1 - r2), per house."""
    a, b, c, d = system_matrix(p)
    r1, r2 = eigenvalues(p)
    x1, x2 = np.exp(r1 * dt), np.exp(r2 * dt)
    den = r1 - r2
    f, g = (x1 - x2) / den, (r1 * x2 - r2 * x1) / den  # expm = f A + g I
    return EtpPropagator(dt, f * a + g, f * b, f * c, f * d + g)


def steady_state(p: EtpParams, to: np.ndarray, qa: np.ndarray, qm: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Equilibrium (Ta, Tm) for constant inputs."""
    ta = to + (qa + qm) / p.ua
    return ta, ta + qm / p.hm


def etp_step(p: EtpParams, prop: EtpPropagator, ta: np.ndarray, tm: np.ndarray,
             to: np.ndarray, qa: np.ndarray, qm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Ta, Tm) after prop.dt seconds of constant inputs."""
    ta_ss, tm_ss = steady_state(p, to, qa, qm)
    da, dm = ta - ta_ss, tm - tm_ss
    return ta_ss + prop.e11 * da + prop.e12 * dm, tm_ss + prop.e21 * da + prop.e22 * dm


def split_gains(q_hvac: np.ndarray, q_internal: np.ndarray, q_solar: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """GridLAB-D split of heat gains between air (Qa) and mass (Qm) [kW]."""
    qm = MASS_INTERNAL_GAIN_FRACTION * q_internal + MASS_SOLAR_GAIN_FRACTION * q_solar
    qa = q_hvac + (1 - MASS_INTERNAL_GAIN_FRACTION) * q_internal + (
        1 - MASS_SOLAR_GAIN_FRACTION) * q_solar
    return qa, qm


def _degf(to_c: np.ndarray | float) -> np.ndarray:
    return np.asarray(to_c, dtype=float) * 1.8 + 32.0


def cooling_capacity_factor(to_c: np.ndarray | float) -> np.ndarray:
    return 1.48924533 - 0.00514995 * _degf(to_c)


def cooling_cop_factor(to_c: np.ndarray | float) -> np.ndarray:
    tf = np.maximum(_degf(to_c), 40.0)
    return 1.0 / (-0.01363961 + 0.01066989 * tf)


def heating_capacity_factor(to_c: np.ndarray | float) -> np.ndarray:
    tf = _degf(to_c)
    return 0.34148808 + 0.00894102 * tf + 0.00010787 * tf**2


def heating_cop_factor(to_c: np.ndarray | float) -> np.ndarray:
    tf = np.minimum(_degf(to_c), 80.0)
    return 1.0 / (2.03914613 - 0.03906753 * tf + 0.00045617 * tf**2 - 0.00000203 * tf**3)


@dataclass
class HvacParams:
    """Per-house HVAC ratings (design capacities at the rating point)."""

    cool_cap_kw: np.ndarray  # total cooling capacity at 95 degF [kW thermal]
    cool_cop: np.ndarray
    heat_cap_kw: np.ndarray  # heating capacity (heat pump at 47 degF) [kW thermal]
    heat_cop: np.ndarray
    heat_type: np.ndarray  # HEAT_PUMP or RESISTANCE
    aux_cap_kw: np.ndarray | None = None  # resistance backup of heat pumps [kW]


@dataclass
class HvacLimits:
    """Full-output heat to air and electrical power at the current outdoor temperature."""

    cool_q_kw: np.ndarray  # sensible heat removed at full output (positive) [kW]
    cool_p_kw: np.ndarray
    heat_q_kw: np.ndarray
    heat_p_kw: np.ndarray


def hvac_limits(h: HvacParams, to_c: float | np.ndarray) -> HvacLimits:
    """Capacity and power of every unit at outdoor temperature `to_c`."""
    cool_total = h.cool_cap_kw * cooling_capacity_factor(to_c)
    cool_p = cool_total / (h.cool_cop * cooling_cop_factor(to_c))
    hp = h.heat_type == HEAT_PUMP
    heat_q = np.where(hp, h.heat_cap_kw * heating_capacity_factor(to_c), h.heat_cap_kw)
    heat_p = np.where(hp, heat_q / (h.heat_cop * heating_cop_factor(to_c)), h.heat_cap_kw)
    return HvacLimits(cool_total / (1 + LATENT_LOAD_FRACTION), cool_p,
                      np.maximum(heat_q, 0.0), np.maximum(heat_p, 0.0))


AUX_OFFSET_C = 1.0  # aux strips engage this far below the heating deadband


def aux_on(ta: np.ndarray, heat_on: np.ndarray, heat_sp: np.ndarray, deadband: np.ndarray,
           h: HvacParams) -> np.ndarray:
    """Heat-pump backup strips (GridLAB-D aux): on while heating and well below setpoint."""
    if h.aux_cap_kw is None:
        return np.zeros_like(heat_on)
    return heat_on & (h.heat_type == HEAT_PUMP) & (ta < heat_sp - 0.5 * deadband - AUX_OFFSET_C)


def thermostat(ta: np.ndarray, cool_on: np.ndarray, heat_on: np.ndarray,
               cool_sp: np.ndarray, heat_sp: np.ndarray, deadband: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """Hysteresis control: cool above cool_sp + db/2 until cool_sp - db/2; heat mirrored."""
    half = 0.5 * deadband
    cool = np.where(ta > cool_sp + half, True, np.where(ta < cool_sp - half, False, cool_on))
    heat = np.where(ta < heat_sp - half, True, np.where(ta > heat_sp + half, False, heat_on))
    return cool, heat & ~cool
