"""Batch studies without HELICS: hosting capacity, operating envelopes, the 118-bus case.

A study YAML names its kind, a name, a seed and the kind's `config`:

    kind: hosting_capacity
    name: hc_ieee13
    seed: 7
    config: {feeder: ieee13, ...}

A study kind is a module `runner.studies.<kind>` (or a package, or one that an installed
package declares in the entry-point group `gridfed.studies`) exposing `Config`, the pydantic
model of its `config:` section, and `run(config, out, *, seed, jobs=1, scheduler=None) ->
dict`, which writes results.json, parquet tables, plots and report.md into `out` and
returns the headline numbers. `gridfed study` validates, makes the folder, runs it.
"""

from __future__ import annotations

import importlib
import json
import re
import time
import traceback
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from runner.schema import ScenarioError, format_validation_error

ENTRY_POINT_GROUP = "gridfed.studies"
STUDY_DIR = Path(__file__).resolve().parents[2] / "scenarios" / "studies"
KIND_PATTERN = r"^[a-z][a-z0-9_]*$"


class StudySpec(BaseModel):
    """The top level of a study YAML."""

    model_config = ConfigDict(extra="forbid")
    kind: str = Field(pattern=KIND_PATTERN, description="Study kind, e.g. hosting_capacity.")
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                      description="Study name (the default results folder's prefix).")
    description: str = Field("", description="One line about the study.")
    seed: int = Field(1, ge=0, description="Seed of every random draw of the study.")
    config: dict[str, Any] = Field(default_factory=dict,
                                   description="The study kind's own settings.")


@dataclass
class Study:
    spec: StudySpec
    module: ModuleType
    config: BaseModel
    source: str


def known_studies() -> list[str]:
    here = Path(__file__).parent
    names = {p.stem for p in here.glob("*.py") if p.stem != "__init__"}
    names |= {p.name for p in here.iterdir() if (p / "__init__.py").exists()}
    names |= {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return sorted(names)


def study_module(kind: str) -> ModuleType:
    """The module implementing a study kind (an installed entry point first)."""
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == kind:
            return importlib.import_module(ep.value.partition(":")[0])
    if not re.match(KIND_PATTERN, kind) or kind not in known_studies():
        raise ScenarioError(f"kind: unknown study kind {kind!r}; expected one of "
                            f"{known_studies()}")
    module = importlib.import_module(f"runner.studies.{kind}")
    if not (hasattr(module, "Config") and hasattr(module, "run")):
        raise ScenarioError(f"kind: study kind {kind!r} defines no Config and run")
    return module


def find_study(name_or_path: str) -> Path:
    """A path, or the name of a shipped study (scenarios/studies/NAME.yaml)."""
    path = Path(name_or_path)
    if path.exists() or path.suffix in (".yaml", ".yml"):
        return path
    shipped = STUDY_DIR / f"{name_or_path}.yaml"
    if shipped.exists():
        return shipped
    raise ScenarioError(f"{name_or_path}: no such file, and no shipped study of that name")


def load_study(name_or_path: str, overrides: dict[str, Any] | None = None) -> Study:
    """Read and validate a study YAML: every error names its field, before anything runs."""
    path = find_study(name_or_path)
    if not path.is_file():
        raise ScenarioError(f"{path}: not a file (expected a study YAML)")
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: expected a mapping with kind, name and config")
    for key, value in (overrides or {}).items():
        node = data
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    try:
        spec = StudySpec.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(format_validation_error(str(path), exc)) from None
    module = study_module(spec.kind)
    try:
        config = module.Config.model_validate(spec.config)
    except ValidationError as exc:
        raise ScenarioError(format_validation_error(str(path), exc, prefix="config")) from None
    return Study(spec, module, config, str(path))


def run_study(study: Study, out: Path, jobs: int = 1,
              scheduler: str | None = None) -> dict[str, Any]:
    """Run a validated study into a fresh folder `out`; a failure leaves an INCOMPLETE
    marker with the error beside what was written."""
    from runner.results import INCOMPLETE_MARKER, dependency_versions, gridfed_version

    resolved = study.spec.model_dump(mode="json")
    resolved["config"] = study.config.model_dump(mode="json")
    resolved["gridfed"] = {"version": gridfed_version(), "source": study.source,
                           "dependencies": dependency_versions()}
    (out / "study.yaml").write_text(yaml.safe_dump(resolved, sort_keys=False))
    started = time.perf_counter()
    marker = out / INCOMPLETE_MARKER
    marker.write_text("running\n")
    try:
        headline = study.module.run(study.config, out, seed=study.spec.seed, jobs=jobs,
                                    scheduler=scheduler)
    except BaseException as exc:
        marker.write_text(f"failed: {exc!r}\n{traceback.format_exc()}")
        raise
    marker.unlink()
    wall = round(time.perf_counter() - started, 3)
    summary = {"study": study.spec.name, "kind": study.spec.kind, "wall_time_s": wall,
               "results": headline}
    (out / "study_run.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return summary
