"""Configuration of the resilience manager federate."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from federates.resilience.detection import DetectionConfig
from federates.resilience.reweighting import ReweightConfig
from federates.resilience.scores import ScoreConfig
from federates.resilience.targets import TargetConfig


class ManagerConfig(BaseModel):
    """The pure resilience manager (detection, scores, mitigation)."""

    model_config = ConfigDict(extra="forbid")
    detection: DetectionConfig = Field(default_factory=DetectionConfig)
    scores: ScoreConfig = Field(default_factory=ScoreConfig)
    reweighting: ReweightConfig = Field(default_factory=ReweightConfig)
    mitigation: bool = Field(True, description="False: detect and score only (counterfactual).")
    watch: Literal["pcc", "grid_forming"] = Field(
        "pcc", description="'pcc': measured PCC import vs the market's scheduled import; "
        "'grid_forming' (islanded feeder, no import): the grid-forming unit's measured output "
        "(GridState.island_p_kw) vs the output the market schedules for it "
        "(PccSchedule.grid_forming_p_kw). Delta = scheduled - measured either way.")
    agents: list[str] = Field(
        default_factory=list, description="SMOs expected to report; others are learnt from "
        "the telemetry that arrives (an SMO that once reported stays expected).")
    telemetry_period_s: float | None = Field(
        300.0, gt=0, description="How often each SMO reports telemetry (the device "
        "federate's telemetry_period_s); None = every step.")
    end_on_schedule_match: bool = Field(
        True, description="Also end the alarm when the measured import matches the market "
        "schedule for `detection.clear_steps` steps (devices follow their dispatch again). "
        "Set False for a market that folds measured bus loads into its schedule, which "
        "would end mitigation while the attack lasts.")
    warmup_s: float = Field(
        900.0, ge=0, description="No detection before this time: the market's first "
        "clearings and the devices settle (scores are still updated).")
    schedule_lag_steps: int = Field(
        1, ge=0, description="Steps between a market clearing and the measured import "
        "reflecting it (devices apply setpoints from the next step on).")
    update_interval_s: float | None = Field(
        None, gt=0, description="Seconds between coefficient updates (default: once per "
        "market period, read from the PccSchedule).")
    generation_flex_kw: dict[str, float] = Field(
        default_factory=dict, description="Spare generation per SMO, for delta_ia (default: "
        "equal for all).")
    load_flex_kw: dict[str, float] = Field(
        default_factory=dict, description="Curtailable load per SMO, for delta_ib (default: "
        "equal for all).")


class ResilienceConfig(ManagerConfig):
    feeder: str = Field("", description="Feeder (default: the scenario's), for report maps.")
    pcc_key: str = Field("grid/pcc_power", description="Measured PCC import publication "
                         "(watch 'grid_forming': default 'grid/state').")
    pcc_type: Literal["vector", "state"] = Field(
        "vector", description="'vector': [P_kW, Q_kvar] double vector; 'state': GridState JSON "
        "(watch 'grid_forming': default and required, it carries island_p_kw).")
    schedule_key: str = Field("market/pcc_schedule", description="Market's PccSchedule.")
    coefficients_endpoint: str | None = Field(
        "market/coefficients", description="Market endpoint for CoefficientUpdate messages "
        "(None: no market in the scenario).")
    targets: TargetConfig = Field(
        default_factory=TargetConfig, description="The seed's result targets the report "
        "checks (pass/fail lines against the pre-attack and no-attack references).")

    @model_validator(mode="after")
    def _grid_forming_input(self) -> ResilienceConfig:
        """Watching a grid-forming unit needs the GridState: default key and type follow."""
        if self.watch != "grid_forming":
            return self
        if "pcc_type" in self.model_fields_set and self.pcc_type != "state":
            raise ValueError("pcc_type: must be 'state' (GridState, which carries "
                             "island_p_kw) when watch is 'grid_forming'")
        self.pcc_type = "state"
        if "pcc_key" not in self.model_fields_set:
            self.pcc_key = "grid/state"
        return self
