"""Sweep definition (SWEEP.yaml) and its expansion into points.

A sweep names a base scenario and the parameters to vary, any scenario field by the dotted
keys of `gridfed run --set` (list items by index: `attacker.attacks.0.scale_kw`):

    name: baseline_pv
    scenario: baseline_ieee123      # shipped name, or a path relative to this file
    seed: 5
    set: {duration: 1h}             # the same for every point
    parameters:
      grid: {pv.items.0.p_kw: [-60, -120, -240]}         # cartesian product
      zip: {grid.baseline.scale: [0.8, 1.0], period: [60, 30]}   # walked together
      random: {count: 8, params: {x.y: {uniform: [0, 1]}}}
      latin_hypercube: {count: 8, params: {x.z: {low: 0, high: 10}}}
      replicates: 3                 # each combination with 3 seeds

The forms multiply: grid x zip x random x latin_hypercube x replicates. Each point gets a
seed derived from the sweep seed and the point id (or, with `seeds: per_replicate`, from
the sweep seed and the replicate number, the same for every parameter combination), so the
same sweep gives the same points, seeds and table.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from runner.schema import ScenarioError, find_scenario, format_validation_error, read_yaml


class Distribution(BaseModel):
    """One random parameter: exactly one of the forms."""

    model_config = ConfigDict(extra="forbid")
    uniform: tuple[float, float] | None = Field(None, description="[low, high) uniform.")
    loguniform: tuple[float, float] | None = Field(
        None, description="[low, high), uniform in log space (both > 0).")
    normal: tuple[float, float] | None = Field(None, description="[mean, standard deviation].")
    integers: tuple[int, int] | None = Field(None, description="[low, high], both included.")
    choice: list[Any] | None = Field(None, description="Values picked with equal probability.")

    @model_validator(mode="after")
    def one_form(self) -> Distribution:
        given = [k for k, v in self.__dict__.items() if v is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of uniform, loguniform, normal, integers, "
                             f"choice (got {given or 'none'})")
        if self.loguniform is not None and min(self.loguniform) <= 0:
            raise ValueError("loguniform bounds must be > 0")
        if self.choice is not None and not self.choice:
            raise ValueError("choice needs at least one value")
        return self

    def draw(self, rng: np.random.Generator) -> Any:
        if self.uniform is not None:
            return float(rng.uniform(*self.uniform))
        if self.loguniform is not None:
            lo, hi = np.log(self.loguniform)
            return float(np.exp(rng.uniform(lo, hi)))
        if self.normal is not None:
            return float(rng.normal(*self.normal))
        if self.integers is not None:
            return int(rng.integers(self.integers[0], self.integers[1], endpoint=True))
        assert self.choice is not None
        return self.choice[int(rng.integers(len(self.choice)))]


class RandomForm(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int = Field(ge=1, description="Number of random draws.")
    params: dict[str, Distribution] = Field(min_length=1)


class Range(BaseModel):
    """One latin-hypercube dimension: the unit interval mapped onto [low, high]."""

    model_config = ConfigDict(extra="forbid")
    low: float
    high: float
    scale: Literal["linear", "log"] = Field("linear", description="log: uniform in log space.")
    integer: bool = Field(False, description="Round to the nearest integer.")

    @model_validator(mode="after")
    def ordered(self) -> Range:
        if not self.high > self.low:
            raise ValueError(f"high ({self.high}) must be above low ({self.low})")
        if self.scale == "log" and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        return self

    def map(self, u: float) -> float | int:
        if self.scale == "log":
            lo, hi = math.log(self.low), math.log(self.high)
            value = math.exp(lo + u * (hi - lo))
        else:
            value = self.low + u * (self.high - self.low)
        return int(round(value)) if self.integer else float(value)


class LatinHypercubeForm(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int = Field(ge=1, description="Number of samples (strata per dimension).")
    params: dict[str, Range] = Field(min_length=1)


class Parameters(BaseModel):
    model_config = ConfigDict(extra="forbid")
    grid: dict[str, list[Any]] = Field(default_factory=dict,
                                       description="Cartesian product of these value lists.")
    zip: dict[str, list[Any]] = Field(default_factory=dict,
                                      description="Lists of equal length, walked together.")
    random: RandomForm | None = None
    latin_hypercube: LatinHypercubeForm | None = None
    replicates: int = Field(1, ge=1, description="Runs of each combination, each its own seed.")

    def swept_keys(self) -> list[str]:
        """Every swept key in the order of the definition: value lists, then draws."""
        keys = [*self.grid, *self.zip]
        for drawn in (self.random, self.latin_hypercube):
            keys += list(drawn.params) if drawn is not None else []
        return keys

    @property
    def sampled(self) -> bool:
        """Some values are drawn (random or Latin hypercube), not listed."""
        return self.random is not None or self.latin_hypercube is not None

    @model_validator(mode="after")
    def consistent(self) -> Parameters:
        for form, lists in self:  # the forms given as value lists (cartesian, walked)
            for key, values in lists.items() if isinstance(lists, dict) else ():
                if not values:
                    raise ValueError(f"{form}.{key}: give at least one value")
        lengths = {k: len(v) for k, v in self.zip.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"zip: the lists must have the same length (got {lengths})")
        keys = [*self.grid, *self.zip, *(self.random.params if self.random else {}),
                *(self.latin_hypercube.params if self.latin_hypercube else {})]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise ValueError(f"parameter(s) {twice} appear in more than one form")
        return self

    def keys(self) -> list[str]:
        return [*self.grid, *self.zip, *(self.random.params if self.random else {}),
                *(self.latin_hypercube.params if self.latin_hypercube else {})]


class SweepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    scenario: str = Field(description="Base scenario: a shipped name or a YAML path "
                          "(relative to the sweep file).")
    seed: int = Field(0, ge=0, description="Seeds the random forms and every point's seed.")
    seeds: Literal["per_point", "per_replicate"] = Field(
        "per_point", description="per_point: each point its own seed (from the sweep seed and "
        "the point id); per_replicate: replicate r has the same seed at every parameter "
        "combination (common random numbers, for paired comparisons).")
    set: dict[str, Any] = Field(default_factory=dict, description="Overrides of every point.")
    parameters: Parameters = Field(default_factory=Parameters)
    results: Literal["metrics", "full"] = Field(
        "metrics", description="metrics: each point writes its series and metrics.json only "
        "(no plots, no per-point report.md: the sweep's fast lane); full: like `gridfed run`.")


@dataclass
class Point:
    """One run of the sweep: its id, its swept values, its seed and its `--set` items."""

    id: str
    params: dict[str, Any]
    replicate: int
    seed: int
    overrides: list[str] = field(default_factory=list)

    def label(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"point {self.id} ({shown or 'base'}, replicate {self.replicate})"


@dataclass
class Sweep:
    spec: SweepSpec
    source: Path
    scenario_path: Path
    points: list[Point]


def set_item(key: str, value: Any) -> str:
    """A `--set KEY=VALUE` item whose value reads back (YAML) as exactly `value`."""
    return f"{key}={json.dumps(value)}"


def derive_seed(sweep_seed: int, tag: str) -> int:
    """A stable 31-bit seed from the sweep seed and a point id (or replicate tag)."""
    digest = hashlib.sha256(f"{sweep_seed}:{tag}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def combinations(params: Parameters, seed: int) -> list[dict[str, Any]]:
    """Every combination of the swept values (replicates not included), in a fixed order:
    grid (last key fastest), then zip, then the random draws, then the hypercube samples."""
    rng = np.random.default_rng([seed, 1])
    blocks: list[list[dict[str, Any]]] = []
    if params.grid:
        keys = list(params.grid)
        blocks.append([dict(zip(keys, combo, strict=True))
                       for combo in itertools.product(*params.grid.values())])
    if params.zip:
        keys = list(params.zip)
        blocks.append([dict(zip(keys, combo, strict=True))
                       for combo in zip(*params.zip.values(), strict=True)])
    if params.random is not None:
        blocks.append([{k: d.draw(rng) for k, d in params.random.params.items()}
                       for _ in range(params.random.count)])
    if params.latin_hypercube is not None:
        from scipy.stats import qmc

        lhs = params.latin_hypercube
        unit = qmc.LatinHypercube(d=len(lhs.params), seed=rng).random(lhs.count)
        blocks.append([{k: r.map(float(u)) for (k, r), u in zip(lhs.params.items(), row,
                                                                  strict=True)}
                       for row in unit])
    out: list[dict[str, Any]] = [{}]
    for block in blocks:
        out = [{**a, **b} for a in out for b in block]
    return out


def expand(spec: SweepSpec) -> list[Point]:
    """The sweep's points, ids p000, p001, ... (wider ids past 1000 points)."""
    combos = combinations(spec.parameters, spec.seed)
    reps = spec.parameters.replicates
    total = len(combos) * reps
    width = max(3, len(str(total - 1)))
    fixed = [set_item(k, v) for k, v in spec.set.items()]
    points = []
    for index, (values, rep) in enumerate(itertools.product(combos, range(reps))):
        pid = f"p{index:0{width}d}"
        seed = derive_seed(spec.seed, pid if spec.seeds == "per_point" else f"replicate{rep}")
        overrides = [*fixed, *(set_item(k, v) for k, v in values.items()),
                     "broker.port=null"]  # points run side by side: each its own free port
        if "seed" not in values and "seed" not in spec.set:
            overrides.append(f"seed={seed}")
        else:
            seed = int(values.get("seed", spec.set.get("seed", 0)))
        points.append(Point(pid, values, rep, seed, overrides))
    return points


def load_sweep(path: Path) -> Sweep:
    """Read and check SWEEP.yaml (not yet the points: see `validate_points`)."""
    data = read_yaml(path)
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(format_validation_error(str(path), exc).replace(
            "invalid scenario", "invalid sweep")) from None
    relative = path.parent / spec.scenario
    scenario = relative if relative.exists() else find_scenario(spec.scenario)
    if not scenario.exists():
        raise ScenarioError(f"{path}: scenario: {spec.scenario}: no such file, and no "
                            "shipped scenario of that name")
    return Sweep(spec, path.resolve(), scenario.resolve(), expand(spec))


def validate_points(sweep: Sweep) -> None:
    """Validate and compile every point like `gridfed run` would, before anything runs;
    the first bad point raises a ScenarioError naming the point and the field."""
    import tempfile

    from runner.compile import compile_scenario
    from runner.schema import load_scenario

    for point in sweep.points:
        try:
            scenario = load_scenario(sweep.scenario_path, point.overrides)
            with tempfile.TemporaryDirectory() as tmp:
                compile_scenario(scenario, Path(tmp), 1024, "check", "check")
        except ScenarioError as exc:
            raise ScenarioError(f"{sweep.source.name}: {point.label()}:\n{exc}") from None
