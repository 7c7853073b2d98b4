"""Scenario schema: YAML -> validated `Scenario`, with `--set KEY=VALUE` overrides.

Every error names the file, the field path, the value given and what was expected, and is
raised before anything starts.
"""

from __future__ import annotations

import ipaddress
import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

_UNITS = {"s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600, "hr": 3600, "d": 86400, "day": 86400}
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([a-z]*)\s*$")


class ScenarioError(ValueError):
    """A scenario that cannot run; the message says where and why."""


def parse_duration(value: Any) -> float:
    """'24h', '15min', '30s', '2d' or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like '30s', '15min', '24h' or seconds")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError("expected a finite duration")
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value.lower())
        if match and match.group(2) in ("", *_UNITS):
            return float(match.group(1)) * _UNITS.get(match.group(2), 1)
    raise ValueError("expected a duration like '30s', '15min', '24h' or seconds")


Duration = Annotated[float, BeforeValidator(parse_duration)]
NAME = r"^[a-z][a-z0-9_]*$"
MIN_PERIOD_S = 0.01  # above the largest phase offset inside a step (9 x 1 ms)
PORT_MIN, PORT_MAX = 1024, 65535  # unprivileged TCP ports
CORE_TYPES = ("zmq", "zmq_ss")


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine only (a broker there is not reachable from outside)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class FederateSpec(BaseModel):
    """One federate of the scenario; `config` is validated by the kind's own config model."""

    model_config = ConfigDict(extra="forbid")
    kind: str = Field(description="Federate kind: a shipped one (grid, player, recorder, iot, "
                      "market, resilience, attacker), one an installed package declares, or "
                      "'module:WrapperClass'.")
    period: Duration | None = Field(None, ge=MIN_PERIOD_S,
                                    description="Step [s] (default: scenario period).")
    phase: int | None = Field(None, ge=0, le=9, description="Order within a step.")
    config: dict[str, Any] = Field(default_factory=dict, description="The kind's own "
                                   "settings (see its section below).")

    @field_validator("kind")
    @classmethod
    def known_kind(cls, kind: str) -> str:
        from federates.registry import wrapper_class

        try:
            wrapper_class(kind)
        except (KeyError, ImportError) as exc:
            raise ValueError(str(exc).strip("'\"")) from None
        return kind


class BrokerSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    host: str = Field("127.0.0.1", description="Interface the broker binds to; anything but "
                      "loopback needs allow_remote (the broker then listens on the network).")
    allow_remote: bool = Field(False, description="Allow a non-loopback broker.host "
                               "(or pass --allow-remote-broker).")
    port: int | None = Field(None, ge=PORT_MIN, le=PORT_MAX, description="Default: a free port.")
    core_type: Literal["zmq", "zmq_ss"] = Field(
        "zmq", description="HELICS core. zmq: the broker binds its port and the next one, "
        "each federate a free port the runner picks (~2 ms per step); zmq_ss: only the "
        "broker's port, but ~3x the per-step overhead. The tcp and tcp_ss cores are not "
        "offered: with a run's own broker, tcp lost every federate at t = 0 and tcp_ss "
        "stalled on values over ~4 kB until the core lost its connection (HELICS 3.6).")

    @field_validator("core_type", mode="before")
    @classmethod
    def offered_core(cls, value: Any) -> Any:
        if value in ("tcp", "tcp_ss"):
            raise ValueError(f"{value!r} is not offered (HELICS 3.6 runs with it lose their "
                             f"broker connection); expected one of {list(CORE_TYPES)}")
        return value

    @model_validator(mode="after")
    def port_pair(self) -> BrokerSpec:
        if self.core_type == "zmq" and self.port == PORT_MAX:
            raise ValueError(f"port {PORT_MAX}: the zmq core also binds the next port; "
                             f"expected at most {PORT_MAX - 1}")
        return self

    log_level: Literal["error", "warning", "summary", "connections", "debug"] = Field(
        "warning", description="HELICS log level of the broker and every federate.")
    time_coordination: Literal["distributed", "global"] = Field(
        "distributed", description="distributed: the federates negotiate their time grants "
        "among themselves, so a federate waits only for those it hears from and each step's "
        "grants pipeline; global: the broker grants every time itself (HELICS --globaltime), "
        "a round trip per grant. Same results either way; distributed is 15-45 % faster.")


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100,
                      description="Run name; starts with a letter or digit (no hidden or "
                      "escaping folder names such as '.x' or '..').")
    description: str = Field("", description="One line shown by `gridfed scenarios list`.")
    seed: int = Field(0, ge=0, description="Seed of every random draw of the run (each "
                      "federate derives its own from it).")
    feeder: str = Field(description="Feeder name (`gridfed feeders list`).")
    duration: Duration = Field(gt=0, description="Simulated time [s].")
    period: Duration = Field(60.0, ge=MIN_PERIOD_S, description="Default step of every "
                             "federate [s].")
    timeout: Duration = Field(900.0, gt=0, description="Wall-clock limit of the run [s].")
    broker: BrokerSpec = Field(default_factory=BrokerSpec, description="The run's own "
                               "HELICS broker.")
    external: list[Annotated[str, Field(pattern=NAME)]] = Field(
        default_factory=list, description="Federates started by the user that the broker awaits.")
    federates: dict[Annotated[str, Field(pattern=NAME)], FederateSpec] = Field(
        min_length=1, description="The federates of the run, by name (lower case, digits, "
        "underscores).")

    @field_validator("feeder")
    @classmethod
    def known_feeder(cls, feeder: str) -> str:
        import feeders

        known = [f.name for f in feeders.list_feeders()]
        if feeder not in known:
            raise ValueError(f"unknown feeder {feeder!r}; expected one of {known}")
        return feeder

    @model_validator(mode="after")
    def consistent_times(self) -> Scenario:
        """Every period fits in the run; the scenario's fits it a whole number of times (a
        slower federate may leave out the last partial period, as a market does)."""
        periods = [("period", self.period)] + [
            (f"federates.{n}.period", f.period) for n, f in self.federates.items() if f.period]
        for where, period in periods:
            if period > self.duration:
                raise ValueError(f"{where}: {period:g} s is longer than the duration "
                                 f"{self.duration:g} s")
            steps = self.duration / period
            if where == "period" and abs(steps - round(steps)) > 1e-6:
                raise ValueError(f"{where}: {period:g} s does not divide the duration "
                                 f"{self.duration:g} s into whole steps")
        return self


def format_validation_error(source: str, exc: ValidationError, prefix: str = "") -> str:
    lines = [f"{source}: invalid scenario"]
    for err in exc.errors():
        path = ".".join(str(p) for p in (prefix, *err["loc"]) if p != "")
        msg = err["msg"].removeprefix("Value error, ")
        if not err["loc"] and ": " in msg:  # a whole-model check names its field first
            where, msg = msg.split(": ", 1)
            path = ".".join(p for p in (prefix, where) if p)
        got = err.get("input")
        shown = "" if isinstance(got, dict) else f" (got {got!r})"
        if err["type"] == "extra_forbidden":
            msg = "unknown field, not part of the schema"
        lines.append(f"  {path or '<root>'}: {msg}{shown}")
    return "\n".join(lines)


def _resolve_path(data: dict[str, Any], key: str) -> list[str]:
    """Map a --set key to a path in the scenario dict.

    'duration' -> ['duration']; 'pv.period' -> ['federates', 'pv', 'period'];
    'houses.weather' -> ['federates', 'houses', 'config', 'weather'].
    """
    parts = key.split(".")
    if parts[0] in Scenario.model_fields:
        return parts
    federates = data.get("federates") or {}
    if parts[0] in federates:
        rest = parts[1:]
        if not rest:
            raise ScenarioError(f"--set {key}: name a field of federate {parts[0]!r}")
        if rest[0] not in FederateSpec.model_fields:
            rest = ["config", *rest]
        return ["federates", parts[0], *rest]
    raise ScenarioError(
        f"--set {key}: unknown field {parts[0]!r}; expected a scenario field "
        f"{sorted(Scenario.model_fields)} or a federate name {sorted(federates)}")


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ScenarioError(f"--set {item!r}: expected KEY=VALUE")
        path = _resolve_path(data, key.strip())
        node = data
        for part, after in zip(path[:-1], path[1:], strict=True):
            node = _child(node, part, key)
            if not isinstance(node, dict | list) or (isinstance(node, list)
                                                      and not after.isdigit()):
                raise ScenarioError(f"--set {key}: {part!r} is not a mapping")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise ScenarioError(f"--set {key}: value {raw!r} is not valid YAML "
                                f"({_yaml_problem(exc)})") from None
        if isinstance(node, list):
            _check_index(node, path[-1], key)
            node[int(path[-1])] = value
        else:
            node[path[-1]] = value
    return data


def _child(node: dict | list, part: str, key: str) -> Any:
    """One step down a --set path: a mapping key (created if absent) or a list index."""
    if isinstance(node, list):
        _check_index(node, part, key)
        return node[int(part)]
    return node.setdefault(part, {})


def _check_index(node: list, part: str, key: str) -> None:
    if not part.isdigit() or int(part) >= len(node):
        raise ScenarioError(f"--set {key}: {part!r} is not an index of a list of {len(node)}")


def _yaml_problem(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark = getattr(exc, "problem_mark", None)
    return f"{problem} at line {mark.line + 1}" if mark is not None else problem


def read_yaml(path: Path) -> dict[str, Any]:
    if path.is_dir():
        raise ScenarioError(f"{path}: is a folder; expected a scenario YAML file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError(f"{path}: scenario file not found") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{path}: not a text file; expected a scenario YAML file") from None
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {_yaml_problem(exc)}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: expected a mapping of scenario fields at the top level")
    return data


def load_scenario(path: Path, overrides: list[str] | None = None) -> Scenario:
    data = apply_overrides(read_yaml(path), overrides or [])
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(format_validation_error(str(path), exc)) from None


SCENARIO_DIR = Path(__file__).resolve().parents[1] / "scenarios"


def find_scenario(name_or_path: str) -> Path:
    """A path, or the name of a shipped scenario (e.g. 'baseline_ieee123')."""
    path = Path(name_or_path)
    if path.exists() or path.suffix in (".yaml", ".yml"):
        return path
    shipped = SCENARIO_DIR / f"{name_or_path}.yaml"
    if shipped.exists():
        return shipped
    raise ScenarioError(f"{name_or_path}: no such file, and no shipped scenario of that name "
                        f"(see 'gridfed scenarios list')")


def shipped_scenarios() -> list[tuple[str, str]]:
    out = []
    for path in sorted(SCENARIO_DIR.glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError:
            data = {}
        out.append((path.stem, str(data.get("description", "")).strip()))
    return out
