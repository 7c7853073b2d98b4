"""Configuration of the DOE study (the ``config:`` section of a ``kind: doe`` study YAML)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

TABLE_II = {"L": [128, 64], "V": [256, 256, 128, 128], "I": [256, 256, 128, 64], "P": [128, 64]}


class LimitsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    v_min_pu: float = Field(0.95, gt=0, description="Lower node voltage limit (pu, L-N).")
    v_max_pu: float = Field(1.05, gt=0, description="Upper node voltage limit (pu, L-N).")
    i_max_a: float = Field(400.0, gt=0, description="Uniform line current limit (A).")
    p_rev_kw: float = Field(200.0, ge=0, description="Reverse-flow limit at monitored lines (kW).")
    margin: float = Field(0.0, ge=0, lt=0.5,
                          description="Safety margin δ on every limit (fraction, 0 = paper).")


class WeightsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    alpha: float = Field(1.0, ge=0, description="Weight of DER curtailment (per kW).")
    beta: float = Field(1.0, gt=0, description="Weight of network losses (per kW).")
    gamma_v: float = Field(1e6, ge=0, description="Voltage violation weight (per pu).")
    gamma_i: float = Field(100.0, ge=0, description="Current violation weight (per A).")
    gamma_p: float = Field(10.0, ge=0, description="Reverse-flow violation weight (per kW).")


class Config(BaseModel):
    """DOE study: data, surrogates, envelopes B0-B4 per interval, OpenDSS validation."""

    model_config = ConfigDict(extra="forbid")
    feeder: Literal["ieee123", "ieee13"] = Field(
        "ieee123", description="Feeder with a shipped DOE case (DERs, monitored lines); -.")
    hours: int = Field(960, ge=24, description="Length of the hourly series (h).")
    evaluate_hours: int | None = Field(
        None, ge=1, description="Evaluate only the first N intervals of the series (h); "
                                "None = all. Data and training still use the whole series.")
    samples: int = Field(30_000, ge=200, description="Random OpenDSS snapshots (count).")
    m_peak: float | None = Field(
        None, gt=0, description="Peak load multiplier (pu of nominal load); None = calibrate.")
    peak_current_fraction: float = Field(
        0.9, gt=0, lt=1.5, description="Calibration target: peak line current / limit (-).")
    taps: Literal["published", "regulated"] = Field(
        "published", description="Locked regulator taps: the feeder's published taps, or the "
                                 "taps the regulators choose at the series' mean load (-).")
    widths: dict[str, list[int]] = Field(
        default_factory=lambda: {k: list(v) for k, v in TABLE_II.items()},
        description="Hidden widths per surrogate L, V, I, P (neurons); Table II default.")
    epochs: int = Field(300, ge=1, description="Maximum training epochs (count).")
    mlp_epochs: int | None = Field(
        None, ge=1, description="Maximum MLP training epochs (count); None = epochs.")
    batch: int = Field(512, ge=8, description="Mini-batch size (samples).")
    lr: float = Field(1e-3, gt=0, description="Adam learning rate (-).")
    patience: int = Field(30, ge=1, description="Early-stop patience (epochs).")
    nonneg: Literal["clamp", "softplus"] = Field(
        "clamp", description="How Wz >= 0 is kept: projection or softplus (-).")
    weights_file: str | None = Field(
        None, description="Trained weights to load (npz path, relative to the YAML's cwd); "
                          "None = train and save into the output folder (-).")
    limits: LimitsConfig | None = Field(None, description="Limits; None = the case's (-).")
    weights: WeightsConfig = Field(default_factory=WeightsConfig,
                                   description="Objective weights (see fields).")
    b2_intervals: int = Field(20, ge=0, description="Random intervals also solved by B2 (count).")
    b2_time_limit_s: float = Field(60.0, gt=0, description="B2 MILP time limit (s).")
    b4_time_limit_s: float = Field(60.0, gt=0, description="B4 MILP time limit (s); paper 900.")
    corners: bool = Field(True, description="Also check all DER corners of B1/B3 envelopes (-).")
