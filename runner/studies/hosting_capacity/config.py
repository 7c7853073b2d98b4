"""Configuration of the hosting-capacity study (spec A; every DECIDE is a field here)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

_TOU = [0.08] * 7 + [0.12] * 9 + [0.25] * 5 + [0.12] * 3  # $/kWh by hour, peak 16-21 h


class Config(BaseModel):
    """The ``config:`` section of a ``hosting_capacity`` study YAML."""

    model_config = ConfigDict(extra="forbid")

    feeder: str = Field("ieee123", description="Feeder name from the catalog [-].")
    peak_load_kva: float | None = Field(
        2930.0, gt=0, description="Daily peak of total |S| of the fixed loads after scaling "
        "[kVA]; also the HC base. None keeps the nominal loads at the profile peak.")
    step_min: int = Field(15, ge=1, le=60, description="Time step [min].")
    horizon_h: float = Field(24.0, gt=0, le=24, description="Length of the checked day [h] "
                             "(shorter days are for tests).")
    start_h: float = Field(0.0, ge=0, lt=24, description="Hour of day of the first step [h].")
    # limits
    v_min_pu: float = Field(0.95, description="ANSI A lower voltage limit [pu].")
    v_max_pu: float = Field(1.05, description="ANSI A upper voltage limit [pu].")
    loading_max_pct: float = Field(100.0, gt=0, description="Line/transformer loading limit "
                                   "[% of the element's normamps].")
    exclude_baseline_violations: bool = Field(
        True, description="A bus or element whose no-PV baseline already violates a limit takes "
        "its baseline extreme as its limit, so only PV-caused violations count [-].")
    regulators: Literal["baseline", "controlled", "locked"] = Field(
        "baseline", description="Regulator taps per step: those the RegControls choose on the "
        "no-PV baseline day, held while PV is checked (baseline); chosen by the RegControls "
        "in every check (controlled); or the published taps all day (locked) [-].")
    # population and sizing (A.5)
    homes: int = Field(1008, ge=1, description="Homes on the feeder, spread over load buses "
                       "in proportion to nominal load [-].")
    bs_share: float = Field(0.05, ge=0, description="Battery power as a share of the peak "
                            "load [-] (5 % of 2930 kVA = 147 kW).")
    bs_hours: float = Field(3.0, gt=0, description="Battery energy / power [h].")
    bs_units: int = Field(50, ge=1, description="Number of battery sites drawn (units of "
                          "equal size) [-].")
    hp_share: float = Field(0.05, ge=0, le=1, description="Share of homes with a heat pump [-].")
    ev_share: float = Field(0.05, ge=0, le=1, description="Share of homes with an EV [-].")
    hp_rated_kw: float = Field(3.36, gt=0, description="Heat-pump rated electric power [kW].")
    ev_rated_kw: float = Field(7.92, gt=0, description="EV charger power [kW].")
    ev_energy_kwh: float = Field(54.0, gt=0, description="EV battery energy [kWh].")
    eta: float = Field(0.95, gt=0, le=1, description="Storage efficiency (BS and EV) [-].")
    soc_min: float = Field(0.1, ge=0, lt=1, description="Minimum state of charge [-].")
    soc_max: float = Field(1.0, gt=0, le=1, description="Maximum state of charge [-].")
    soc_init: float = Field(0.5, ge=0, le=1, description="Battery SOC at the start and end of "
                            "the day; EV SOC on arrival [-].")
    ev_away_h: tuple[float, float] = Field((9.0, 17.0), description="EV away window "
                                           "(departure, arrival) [h of day].")
    ev_target_soc: float = Field(0.9, ge=0, le=1, description="EV SOC wanted at departure [-].")
    ev_mode: Literal["V1G", "V2G"] = Field("V1G", description="EV charging only or both ways.")
    hp_r_c_per_kw: float = Field(2.0, gt=0, description="House thermal resistance [degC/kW].")
    hp_c_kwh_per_c: float = Field(10.0, gt=0, description="House thermal capacity [kWh/degC].")
    hp_cop: float = Field(3.0, gt=0, description="Heat-pump coefficient of performance [-].")
    t_set_c: float = Field(22.0, description="Indoor set point T* [degC].")
    t_band_c: float = Field(2.0, ge=0, description="Comfort band half width around T* [degC].")
    bs_static_charge_h: tuple[float, float] = Field((1.0, 5.0), description="Uncoordinated "
                                                    "battery charging window [h of day].")
    bs_static_discharge_h: list[tuple[float, float]] = Field(
        [(11.0, 14.0), (17.0, 20.0)], description="Uncoordinated battery discharge windows: "
        "midday (when PV is high) and the evening peak [h of day].")
    bs_static_discharge_frac: float = Field(0.2, gt=0, le=1, description="Uncoordinated "
                                            "discharge power as a share of rated power [-].")
    # placement (A.6)
    pv_step_kw: tuple[float, float] = Field((3.0, 42.0), description="PV increment drawn "
                                            "uniformly in this range [kW].")
    pv_cap_kw: float = Field(42.0, gt=0, description="PV cap per bus [kW].")
    pv_max_share: float = Field(1.5, gt=0, description="Length of the placement sequence: "
                                "increments until this share of the peak [-].")
    pv_pf_min: float = Field(0.8, gt=0, le=1, description="Lowest inverter power factor [-].")
    # weather and price
    pv_peak_w_m2: float = Field(950.0, gt=0, description="Clear-sky peak irradiance of the "
                                "summer day; PV output = rating x GHI/1000 [W/m2].")
    sunrise_h: float = Field(6.0, description="Sunrise [h].")
    sunset_h: float = Field(20.5, description="Sunset [h].")
    t_out_range_c: tuple[float, float] = Field((22.0, 36.0), description="Outdoor temperature "
                                               "minimum (05:30) and maximum (15:30) [degC].")
    import_price_by_hour: list[float] = Field(_TOU, min_length=24, max_length=24,
                                              description="PCC price by hour [$/kWh].")
    # static variants (A.6.7)
    variant: Literal["nominal", "worst_case"] = Field(
        "nominal", description="Static check on the day's loads (nominal) or on the daily "
        "minimum load with full PV at every daylight step (worst case) [-].")
    # dynamic (A.4)
    curtail_max: float = Field(0.01, ge=0, le=1, description="Cap on curtailed PV energy as a "
                               "share of available PV energy [-].")
    beta_pv: float = Field(100.0, ge=0, description="Curtailment weight [1/MW^2].")
    beta_loss: float = Field(1.0, ge=0, description="Loss weight (r * flow^2) [1/MW^2].")
    beta_coupl: float = Field(0.1, ge=0, description="PV-coupling weight on BS/EV output "
                              "[1/MW].")
    beta_t: float = Field(1.0, ge=0, description="Comfort weight [1/degC^2].")
    beta_ramp: float = Field(0.01, ge=0, description="Ramp weight for HP, BS, EV1 [1/MW^2].")
    beta_ev2: float = Field(10.0, ge=0, description="EV departure-SOC weight [-].")
    solver: Literal["CLARABEL", "HIGHS", "OSQP"] = Field("CLARABEL",
                                                         description="cvxpy solver [-].")
    correction_rounds: int = Field(4, ge=1, description="Dispatch solves per level: each "
                                   "re-linearises at the last OpenDSS solution [-].")
    # uncertainty (A.7)
    samples: int = Field(100, ge=0, description="Monte Carlo samples (0: deterministic only).")
    sigma_pv: float = Field(0.10, ge=0, description="Multiplicative PV noise, per bus and "
                            "step, clipped to [0, clear sky] [-].")
    sigma_load: float = Field(0.10, ge=0, description="Multiplicative load noise [-].")
    sigma_t_out_c: float = Field(1.0, ge=0, description="Additive temperature noise [degC].")
    sigma_price: float = Field(0.10, ge=0, description="Multiplicative price noise [-].")
    redraw_placement: bool = Field(False, description="Draw a new placement sequence per "
                                   "sample instead of the fixed one [-].")
    sensitivity: bool = Field(False, description="Also run the BS x HP grid of the static "
                              "HC (nominal and worst case) [-].")
    sensitivity_shares: list[float] = Field([0.0, 0.05, 0.10, 0.15, 0.20], min_length=1,
                                            description="BS and HP shares of the grid [-].")
    dynamic: bool = Field(True, description="Also compute the dynamic HC [-].")
    dynamic_samples: int | None = Field(None, ge=0, description="Samples with a dynamic HC "
                                        "(None: all) [-].")

    @model_validator(mode="after")
    def _check(self) -> Config:
        if self.v_min_pu >= self.v_max_pu:
            raise ValueError("v_min_pu must be below v_max_pu")
        if self.soc_min >= self.soc_max:
            raise ValueError("soc_min must be below soc_max")
        if not self.pv_step_kw[0] <= self.pv_step_kw[1] <= self.pv_cap_kw:
            raise ValueError("pv_step_kw must be (low, high) with high <= pv_cap_kw")
        if round(self.horizon_h * 60) % self.step_min:
            raise ValueError("horizon_h must be a whole number of steps (step_min)")
        return self

    @property
    def n_steps(self) -> int:
        return round(self.horizon_h * 60) // self.step_min

    @property
    def dt_h(self) -> float:
        return self.step_min / 60.0
