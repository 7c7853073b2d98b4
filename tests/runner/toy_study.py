"""A study kind that exists only in the tests (installed through `gridfed.studies`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")
    samples: int = Field(100, ge=1, description="Normal draws to average [-].")
    fail: bool = Field(False, description="Raise after writing a partial table.")


def run(config: Config, out: Path, *, seed: int, jobs: int = 1,
        scheduler: str | None = None) -> dict:
    draws = np.random.default_rng(seed).standard_normal(config.samples)
    (out / "draws.json").write_text(json.dumps(draws.tolist()))
    if config.fail:
        raise RuntimeError("the toy study was told to fail")
    headline = {"mean": float(draws.mean()), "samples": config.samples, "jobs": jobs}
    (out / "results.json").write_text(json.dumps(headline))
    return headline
