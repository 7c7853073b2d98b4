"""Configuration models of the market operator (primary OPF, secondary markets, federate)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ObjectiveWeights(_Strict):
    """Multi-objective weights of the seed's social-welfare objective (w1..w4).

    The seed normalises them to sum to one; any non-negative values are accepted here and
    the dLMPs are marginal values of the *weighted* objective (so with the default weights of
    1 they are in plain $/kWh).
    """

    disutility: float = Field(1.0, ge=0)
    generation: float = Field(1.0, ge=0, description="Also weights the PCC import cost.")
    voltage: float = Field(1.0, ge=0)
    losses: float = Field(1.0, ge=0)


class PrimaryConfig(_Strict):
    """Primary market (AC OPF on the feeder) settings.

    Cost coefficients are hourly rates: alpha, beta in $/(kW^2 h), prices in $/kWh, so the
    objective is in $/h and the dLMPs in $/kWh.
    """

    model: Literal["socp", "lindistflow"] = "socp"
    weights: ObjectiveWeights = Field(default_factory=ObjectiveWeights)
    import_price: float = Field(0.10, description="Energy price at the PCC [$/kWh].")
    import_price_by_hour: list[float] | None = Field(
        None, min_length=24, max_length=24,
        description="Time-of-use PCC price per hour of day [$/kWh]; overrides import_price.")
    import_price_q: float = Field(0.0, description="Reactive import price at the PCC [$/kvarh].")
    xi: float = Field(0.02, ge=0, description="Extra penalty on line losses [$/kWh].")
    voltage_cost: float = Field(
        0.0, ge=0, description="Cost of squared-voltage deviation from 1 pu [$/h per pu^2].")
    v_min_pu: float = Field(0.95, gt=0)
    v_max_pu: float = Field(1.05, gt=0)
    line_limits: bool = True
    voltage_slack_price: float = Field(
        10.0, ge=0, description="Soft voltage limits: price of a violation [$/kWh per pu of "
        "squared voltage], i.e. the cap of the voltage-bound duals; 0 = hard limits (a "
        "clearing can then be infeasible).")
    linear_upper_voltage: bool = Field(
        True, description="SOCP: apply v_max to the lossless LinDistFlow voltage (an upper "
        "bound of the true voltage) so the relaxation stays exact when v_max binds "
        "(Gan, Li, Topcu, Low 2015).")
    gap_tol_kw: float = Field(
        0.5, ge=0, description="Fictitious losses of the SOC relaxation above which the "
                               "solution is flagged inexact [kW].")
    loss_iterations: int = Field(
        3, ge=0, description="LinDistFlow: at most this many re-solves updating the fixed "
        "loss estimate (stops when the losses change by less than `loss_tol`).")
    loss_tol: float = Field(1e-3, gt=0, description="LinDistFlow: relative loss tolerance.")
    default_alpha: float = Field(0.002, ge=0, description="[$/(kW^2 h)] when a bid gives none.")
    default_beta: float = Field(0.004, ge=0, description="[$/(kW^2 h)] when a bid gives none.")


class SecondaryConfig(_Strict):
    """Secondary market (per SMO) settings: lexicographic objectives with tolerance epsilon."""

    epsilon: float = Field(0.01, ge=0, description="Relative tolerance kept on earlier stages.")
    abs_tol: float = Field(1e-6, ge=0, description="Absolute slack added to each stage bound.")
    tariff_markup: float = Field(0.0, description="SMO markup on the dLMP for local tariffs.")
    backend: Literal["clarabel", "cvxpy"] = Field(
        "clarabel", description="Stages 2-4 assembled directly for Clarabel (fast) or "
        "modelled in cvxpy (reference; same problems, compiled once with parameters).")
    default_resilience: float = Field(1.0, ge=0, le=1)
    commitment_memory: float = Field(
        0.8, ge=0, lt=1, description="Exponential forgetting factor of the commitment score.")
    commitment_scale_kw: float = Field(
        0.5, gt=0, description="Error [kW] at which an agent's commitment drops to 1/2.")


class MarketConfig(_Strict):
    """Config of the market federate (autowire fills feeder and peers)."""

    feeder: str = ""
    primary_period: float | str = Field(900.0, description="Seconds or '15min'.")
    secondary_period: float | str = Field(300.0, description="Seconds or '5min'.")
    primary: PrimaryConfig = Field(default_factory=PrimaryConfig)
    secondary: SecondaryConfig = Field(default_factory=SecondaryConfig)
    secondary_enabled: bool = True
    smos: list[str] = Field(
        default_factory=list, description="SMO ids (= feeder buses); empty = every load bus.")
    iot_federates: list[str] = Field(
        default_factory=list, description="Federates receiving setpoints ('<fed>/sp_<smo>').")
    setpoint_port_prefix: str = "sp_"
    resilience_federates: list[str] = Field(default_factory=list)
    grid_state_key: str = "grid/state"
    background_load: Literal["measured", "nominal", "none"] = Field(
        "measured", description="Non-market load per bus: measured by the grid minus the "
                                "SMOs' responses, the feeder's nominal loads, or zero.")
    load_scale: float = Field(1.0, description="Scale of nominal background loads.")
    start_hour: float = Field(0.0, ge=0, lt=24, description="Time of day at HELICS time 0 [h].")


def parse_seconds(value: float | str) -> float:
    """'15min' / '30s' / '1h' / 900 -> seconds."""
    if isinstance(value, int | float):
        return float(value)
    text = value.strip().lower()
    units = {"ms": 1e-3, "s": 1.0, "sec": 1.0, "min": 60.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
    for suffix in sorted(units, key=len, reverse=True):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * units[suffix]
    return float(text)
