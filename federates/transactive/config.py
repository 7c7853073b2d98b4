"""Configuration of the transactive deviation market (Le et al., IEEE TSG 2019).

Every choice the paper leaves open is a field here, with the default the specification
picked (its decision number in brackets). Units: energy per market interval in MWh,
prices in $/MWh, voltages in p.u., currents in A.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Prices(_Strict):
    """Day-ahead energy price and reserve capacity prices (paper §VI-A)."""

    energy: float = Field(52.67, gt=0, description="Day-ahead energy price pi_E^DA [$/MWh].")
    capacity_up: float = Field(18.21, ge=0, description="Up-reserve capacity price [$/MWh].")
    capacity_down: float = Field(18.21, ge=0,
                                 description="Down-reserve capacity price [$/MWh].")

    @property
    def reserve_up(self) -> float:
        """pi_Rup = energy + capacity: the charge for a shortfall [$/MWh]."""
        return self.energy + self.capacity_up

    @property
    def reserve_down(self) -> float:
        """pi_Rdown = energy - capacity: the payment for a surplus [$/MWh]."""
        return self.energy - self.capacity_down


class NetworkConfig(_Strict):
    """Day-ahead operating point and network limits of the linearised model (7)-(10)."""

    feeder: str = Field("case118zh", description="Shipped feeder name.")
    source_v_pu: float = Field(1.0, gt=0.5, lt=1.5,
                               description="[D2] Slack voltage at the DA point [p.u.].")
    scheduled_dg_kw: dict[str, float] = Field(
        default_factory=dict,
        description="[D2] Scheduled DG output at the DA point per bus [kW]; none by default.")
    v_min_pu: float = Field(0.85, description="[D3] Lower voltage limit V^m- [p.u.].")
    v_max_pu: float = Field(1.10, description="[D3] Upper voltage limit V^m+ [p.u.].")
    current_margin_a: dict[str, float] = Field(
        default_factory=lambda: {"L70_71": 3.117},
        description="[D4] Branch name -> I^max - I^0 [A]; every other branch is unlimited. "
                    "The default is the calibrated M70-M71 limit of the reference case.")
    sensitivity: Literal["opendss", "jacobian"] = Field(
        "opendss", description="[D5] Gamma from OpenDSS perturbations or the AC Jacobian.")
    perturbation_kw: float = Field(1.0, gt=0, description="[D5] +/- step of the central "
                                   "difference in OpenDSS [kW and kVAr].")
    gamma_floor: float = Field(1e-5, ge=0, lt=1, description="Gamma entries below this "
                               "fraction of their row's largest |Gamma| are set to zero: "
                               "finite-difference noise, e.g. an injection on another lateral "
                               "seen through the near-ideal source [-].")
    row_scaling: bool = Field(True, description="[D10] Divide each (7)/(8) row by its largest "
                              "|Gamma| (speed only; prices are rescaled before (11)).")

    @model_validator(mode="after")
    def _limits(self) -> NetworkConfig:
        if not self.v_min_pu < self.v_max_pu:
            raise ValueError("v_min_pu must be below v_max_pu")
        return self


class MarketRules(_Strict):
    """Clearing and settlement rules."""

    settlement: Literal["dlmpa_eq11", "effective"] = Field(
        "effective", description="[D6] Settle at p_j of (11) or at the effective price "
                                 "(p_j + chi*gamma for loads); only 'effective' guarantees "
                                 "non-negative surplus.")
    noncontrollable_load_q: Literal["trade", "deviation"] = Field(
        "trade", description="[D7] A noncontrollable load's dQ follows its trade (chi*dP, "
                             "the paper) or its fixed deviation (chi*dP^d).")
    interval_h: float = Field(1.0, gt=0, le=24, description="[D11] Market interval [h]; "
                              "dP is energy per interval [MWh].")
    two_sided_elastic: bool = Field(False, description="[D12] Elastic boxes two-sided "
                                    "[-|dP^m|, |dP^m|] instead of fixed by sign(dP^m).")


class Dynamics(_Strict):
    """The distributed neurodynamic algorithm (18)/(19) and its stopping rule."""

    mode: Literal["literal", "accelerated"] = Field(
        "literal", description="'literal': (18) with errata E1-E5; 'accelerated': the same "
                               "equilibria with local primal scaling and block gains.")
    graph: Literal["ring", "line", "complete", "feeder"] = Field(
        "ring", description="[D8] Communication graph of the prosumers (in prosumer order; "
                            "'feeder': joined where their buses' paths in the feeder meet).")
    e5_fix: Literal["substitute", "damped"] = Field(
        "substitute", description="[E5] (a) substitute dQ = chi*dP for loads, or (b) the "
                                  "damped gamma dynamics.")
    step: float = Field(0.01, gt=0, le=1, description="Discrete step s of (19) [-].")
    epsilon_s: float = Field(1e-5, gt=0, description="Time constant epsilon of (18) [s].")
    u_init: Literal["energy_price", "zero"] = Field(
        "energy_price", description="Initial price copies u_i: pi_E^DA (warm) or 0 [$/MWh].")
    tol_h: float = Field(1e-8, gt=0, description="[D13] Stop when ||H||_inf is below [-].")
    tol_spread: float = Field(1e-6, gt=0, description="[D13] ... and every multiplier's "
                              "spread over the copies is below [scaled units].")
    max_iter: int = Field(2_000_000, gt=0, description="Iteration cap of (19) [-].")
    check_every: int = Field(50, gt=0, description="Iterations between stopping checks [-].")
    # accelerated mode only
    price_gain: float = Field(20.0, gt=0, description="Accelerated: gain of the balance price "
                              "copies u and integrators v, divided by half the agent's "
                              "degree [-].")
    row_gain: float = Field(20.0, gt=0, description="Accelerated: gain of the network "
                            "multiplier copies and integrators, divided likewise [-].")
    row_boost: float = Field(40.0, gt=0, description="Accelerated: factor on every scaled "
                             "current row (its multiplier is divided by it) [-].")
    primal_damping: float = Field(2.0, gt=0, description="Accelerated: K in each agent's "
                                  "primal step kappa_i = min(1, 1/(2 a_i + row_gain w_i^2 / "
                                  "K)), w_i its largest own row coefficient [-].")
    primal_gain: float = Field(1.0, gt=0, le=50, description="Accelerated: gain of the "
                               "dP and dQ lines (primal time scale) [-].")
    primal_scale: Literal["local", "unit"] = Field(
        "local", description="Accelerated: primal projection steps kappa_i from the agent's "
                             "own data ('local') or 1 as in (18) ('unit').")


class TransactiveConfig(_Strict):
    """Everything one clearing needs besides the prosumers' data."""

    prices: Prices = Field(default_factory=Prices)
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    rules: MarketRules = Field(default_factory=MarketRules)
    dynamics: Dynamics = Field(default_factory=Dynamics)
