"""Thin HELICS layer: the only module of gridfed that imports helics.

A federate is a `FederateWrapper` subclass (thin, holds a pure model) plus a `RuntimeConfig`
(broker, timing, interfaces). `run(wrapper)` creates the HELICS federate, registers the
interfaces the wrapper declares, and drives the time loop:

    step k happens at HELICS time  k * period + phase * PHASE_EPSILON

The phase orders federates inside one step (attacker < devices < grid < market <
resilience < recorder), so a measurement at step k reflects the injections of step k with
no hidden lag. Federates are *uninterruptible*: they are granted exactly the time they ask
for, which makes runs deterministic. Messages sent at step k by a later phase reach an
earlier phase at step k+1: that one-step lag is the physical latency of control.
"""

from __future__ import annotations

import json
import logging
import math
import resource
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

import helics as h
from pydantic import BaseModel, ConfigDict, Field

from federates.messages import Payload, envelope, open_envelope, payload_ref
from federates.process import on_stop_signal, stopping

log = logging.getLogger("gridfed.runtime")

CREATED = "gridfed federate created"
FAILED = "gridfed federate failed"  # + JSON {wall, t, own, error}: the runner names the first
EXIT_FAILED = 1  # the federate's own code failed
EXIT_COLLATERAL = 3  # HELICS stopped it (another federate failed, broker gone)
EXIT_INTERRUPTED = 130
PHASE_EPSILON = 1e-3  # seconds between phases inside one step
PHASES = {"attacker": 0, "devices": 1, "grid": 2, "market": 3, "resilience": 4, "recorder": 5}

P = TypeVar("P", bound=Payload)


class FederationStopped(RuntimeError):
    """HELICS ended this federate's time loop because the federation is shutting down."""


class Publication(BaseModel):
    model_config = ConfigDict(extra="forbid")
    port: str = Field(description="Local name; the global key is '<federate>/<port>'.")
    type: Literal["string", "vector", "double"] = "string"
    units: str = ""
    payload: str = Field("", description="Payload model carried (for docs and the recorder).")


class Subscription(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(description="Global publication key, e.g. 'grid/state'.")
    type: Literal["string", "vector", "double"] = "string"


class Endpoint(BaseModel):
    model_config = ConfigDict(extra="forbid")
    port: str = Field(description="Local name; the global endpoint name is '<federate>/<port>'.")
    payload: str = ""


# ---- HELICS filters (communication-link attacks): see FilterSpec and StepIO.set_filter
class FilterSpec(BaseModel):
    """A global HELICS filter on other federates' endpoints, inactive until switched on.

    'drop' is a random_drop filter whose probability is 0 (off) or 1 (on); 'delay' is a
    delay filter whose delay is 0 (off) or the requested seconds (on). `direction` picks
    the messages filtered: sent by the targets ('source'), sent to them ('destination'),
    or both.
    """

    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="Global filter name (unique in the run).")
    kind: Literal["drop", "delay"]
    targets: list[str] = Field(description="Global endpoint names, e.g. 'iot/smo_65'.")
    direction: Literal["both", "source", "destination"] = "both"


class Interfaces(BaseModel):
    model_config = ConfigDict(extra="forbid")
    publications: list[Publication] = Field(default_factory=list)
    subscriptions: list[Subscription] = Field(default_factory=list)
    endpoints: list[Endpoint] = Field(default_factory=list)
    filters: list[FilterSpec] = Field(default_factory=list)


class RuntimeConfig(BaseModel):
    """How a federate joins a federation (filled in by the runner)."""

    model_config = ConfigDict(extra="forbid")
    name: str
    broker_address: str = "127.0.0.1"
    broker_port: int = 23500
    broker_key: str = ""
    core_type: str = "zmq"
    period: float = Field(60.0, gt=0)
    phase: int = Field(0, ge=0, le=9)
    stop_time: float = Field(3600.0, ge=0)
    start_time: float = 0.0
    follow: list[str] = Field(
        default_factory=list, description="Double publications this federate waits on but "
        "ignores (the recorder's clock): keeps it at most one step ahead of their owners.")
    output_delay: float = Field(0.0, ge=0, description="HELICS output delay [s]: federates "
                                "that follow this one may run this far ahead of it.")
    local_port: int | None = Field(None, description="Port of this federate's own core "
                                   "(zmq/tcp cores); None lets HELICS choose.")
    connect_timeout_s: float = 30.0
    log_level: str = "warning"


def helics_core_init(cfg: RuntimeConfig) -> str:
    """Core init string for a federate connecting to the run's own broker."""
    parts = [
        "--federates=1",
        f"--broker_address=tcp://{cfg.broker_address}:{cfg.broker_port}",
        f"--timeout={int(cfg.connect_timeout_s)}s",
        f"--loglevel={cfg.log_level}",
    ]
    if cfg.core_type.startswith("tcp") or cfg.core_type.startswith("zmq"):
        parts.append("--local_interface=tcp://127.0.0.1" if cfg.broker_address in (
            "127.0.0.1", "localhost") else "--local_interface=tcp://*")
    if cfg.broker_key:
        parts.append(f"--brokerkey={cfg.broker_key}")
    return " ".join(parts)


def broker_init(
    host: str, port: int, key: str, name: str, federates: int, log_level: str = "warning",
    global_time: bool = False,
) -> str:
    """Init string of a run's broker: waits for `federates` federates before executing.

    `global_time`: the broker grants all times itself (HELICS --globaltime) instead of the
    federates negotiating them among themselves. The grants, and so the results, are the
    same; global grants cost a broker round trip per grant, and a federate allowed to trail
    the others (the recorder, by its output delay) is only granted once they stall for it.
    """
    parts = [
        f"--name={name}",
        f"--federates={federates}",
        f"--local_interface=tcp://{host}",
        f"--port={port}",
        f"--loglevel={log_level}",
    ]
    if global_time:
        parts.append("--globaltime")
    if key:
        parts.append(f"--brokerkey={key}")
    return " ".join(parts)


def _input_string(sub: Any) -> str:
    """`helicsInputGetString` without its per-call C type parse.

    The binding allocates its buffer with `ffi.new("char[<size>]")`: cffi parses that type
    string with pycparser whenever the size is new, which a JSON value of varying length
    nearly always is (~1-4 ms a call; and every parsed size stays cached). Allocating
    `char[]` with the size as an argument calls the same C function in ~20 us.
    """
    size = h.helicsInputGetStringSize(sub) + 1024  # the binding's own margin
    buffer = _ffi.new("char[]", size)
    length = _ffi.new("int[1]")
    err = h.helicsErrorInitialize()
    _get_string(sub.handle, buffer, size, length, err)
    if err.error_code != 0:
        raise h.HelicsException(f"[{err.error_code}] {_ffi.string(err.message).decode()}")
    return _ffi.string(buffer, maxlen=length[0]).decode()


_ffi = h.capi.ffi
_get_string = h.capi.loadSym("helicsInputGetString")


@dataclass
class StepIO:
    """What a wrapper sees during one step: inputs received, and ways to publish/send."""

    fed: Any
    name: str
    time: float = 0.0
    step: int = 0
    _pubs: dict[str, Any] = field(default_factory=dict)
    _pub_types: dict[str, str] = field(default_factory=dict)
    _subs: dict[str, Any] = field(default_factory=dict)
    _sub_types: dict[str, str] = field(default_factory=dict)
    _eps: dict[str, Any] = field(default_factory=dict)
    _filters: dict[str, tuple[Any, str]] = field(default_factory=dict)
    wire: dict[str, int] = field(default_factory=dict)
    """Messages received and dropped, by reason ('received', 'dropped.<port>.<why>')."""

    # ---- values
    def updated(self, key: str) -> bool:
        return bool(h.helicsInputIsUpdated(self._subs[key]))

    def updated_keys(self) -> list[str]:
        return [k for k in self._subs if self.updated(k)]

    def get_raw(self, key: str) -> Any:
        sub = self._subs[key]
        kind = self._sub_types[key]
        if kind == "double":
            return h.helicsInputGetDouble(sub)
        if kind == "vector":
            return list(h.helicsInputGetVector(sub))
        return _input_string(sub)

    def get(self, key: str, model: type[P]) -> P | None:
        """Latest value of a JSON publication parsed as `model` (None before the first one)."""
        raw = _input_string(self._subs[key])
        if not raw:
            return None
        return model.from_wire(raw)

    def publish(self, port: str, value: Payload | list[float] | float | str) -> None:
        pub = self._pubs[port]
        kind = self._pub_types[port]
        if kind == "double":
            h.helicsPublicationPublishDouble(pub, float(value))  # type: ignore[arg-type]
        elif kind == "vector":
            h.helicsPublicationPublishVector(pub, [float(v) for v in value])  # type: ignore[union-attr]
        elif isinstance(value, Payload):
            h.helicsPublicationPublishString(pub, value.to_wire())
        else:
            text = value if isinstance(value, str) else json.dumps(value)
            h.helicsPublicationPublishString(pub, text)

    # ---- messages
    def has_messages(self) -> bool:
        """Whether any endpoint of this federate holds a message (one call for all of them:
        a federate with an endpoint per SMO need not poll each one every step)."""
        return bool(h.helicsFederateHasMessage(self.fed))

    def messages(self, port: str) -> Iterator[tuple[str, str]]:
        """Pending messages on a local endpoint as (source endpoint, raw text), untyped."""
        ep = self._eps[port]
        while h.helicsEndpointHasMessage(ep):
            msg = h.helicsEndpointGetMessage(ep)
            yield h.helicsMessageGetSource(msg), h.helicsMessageGetString(msg)

    def receive_from(self, port: str, *models: type[P]) -> list[tuple[str, P]]:
        """Pending messages on `port` as (source endpoint, payload), dispatched on the type
        each message carries. A message of another type or version, or that does not
        validate, is dropped: logged once per (port, reason) and counted in `wire`."""
        accepted = {payload_ref(m): m for m in models}
        out: list[tuple[str, P]] = []
        for source, raw in self.messages(port):
            opened = open_envelope(raw)
            if opened is None:
                self._drop(port, "untyped", source)
                continue
            ref, version, data = opened
            model = accepted.get(ref)
            if model is None:
                self._drop(port, f"type {ref}", source)
            elif version != model.VERSION:
                self._drop(port, f"{ref} version {version} (expected {model.VERSION})", source)
            else:
                try:
                    out.append((source, model.model_validate_json(data)))
                except ValueError as exc:
                    self._drop(port, f"invalid {ref}", source, str(exc).splitlines()[0])
                    continue
                self.wire["received"] = self.wire.get("received", 0) + 1
        return out

    def receive(self, port: str, model: type[P]) -> list[P]:
        """Pending `model` payloads on `port` (others are dropped and counted)."""
        return [payload for _, payload in self.receive_from(port, model)]

    def _drop(self, port: str, why: str, source: str, detail: str = "") -> None:
        key = f"dropped.{port}.{why}"
        if key not in self.wire:
            print(f"gridfed wire {self.name}: dropped a message on {port!r} from {source!r}: "
                  f"{why} {detail}".rstrip(), flush=True)
        self.wire[key] = self.wire.get(key, 0) + 1

    def send(self, port: str, destination: str, payload: Payload | str,
             payload_type: type[Payload] | None = None) -> None:
        """Send a payload, typed on the wire (type and version in an envelope). Text already
        serialised (a hot path building JSON from dicts) names its `payload_type`; text
        without one goes as it is, untyped, for receivers that read `messages()`."""
        if isinstance(payload, Payload):
            model, data = type(payload), payload.to_wire()
            text = envelope(payload_ref(model), model.VERSION, data)
        elif payload_type is not None:
            text = envelope(payload_ref(payload_type), payload_type.VERSION, payload)
        else:
            text = payload
        h.helicsEndpointSendBytesTo(self._eps[port], text.encode(), destination)

    # ---- filters
    def set_filter(self, name: str, active: bool, delay_s: float = 0.0) -> None:
        """Switch a registered filter: drop all / none, or delay by `delay_s` / not at all."""
        filt, kind = self._filters[name]
        if kind == "drop":
            h.helicsFilterSet(filt, "prob", 1.0 if active else 0.0)
        else:
            h.helicsFilterSet(filt, "delay", float(delay_s) if active else 0.0)


class ScenarioContext(BaseModel):
    """What the runner tells each federate kind about the rest of the scenario at compile time."""

    model_config = ConfigDict(extra="forbid")
    scenario: str
    feeder: str
    seed: int
    duration_s: float
    period_s: float
    federates: dict[str, str] = Field(description="Federate name -> kind, for wiring.")
    outputs: dict[str, list[str]] = Field(
        default_factory=dict, description="Federate name -> the ports its kind always "
        "publishes (`FederateWrapper.outputs`), so peers wire by port, not by kind.")
    output_dir: str


class RunFacts:
    """What the federates of a run state about it (`FederateWrapper.run_facts`), computed
    on first use."""

    def __init__(self, stated: dict[str, dict[str, Any]]):
        self._stated = stated  # federate name -> {key: value or function}
        self._cache: dict[tuple[str, str], Any] = {}

    def get(self, key: str) -> list[tuple[str, Any]]:
        """(federate name, value) of every federate stating `key`, in scenario order."""
        out = []
        for name, facts in self._stated.items():
            if key in facts:
                if (name, key) not in self._cache:
                    value = facts[key]
                    self._cache[name, key] = value() if callable(value) else value
                out.append((name, self._cache[name, key]))
        return out

    def of(self, name: str, key: str) -> Any | None:
        """The value federate `name` states for `key` (None if it states none)."""
        return next((v for n, v in self.get(key) if n == name), None)


class FederateWrapper:
    """Base class of the thin HELICS wrapper around a pure model.

    Subclasses set `kind`, `config_model` and implement `interfaces`, `on_step` and
    optionally `on_start` / `on_stop`. They never import helics.
    """

    kind: ClassVar[str] = ""
    config_model: ClassVar[type[BaseModel]] = BaseModel
    phase: ClassVar[int] = PHASES["devices"]
    """Order inside a time step (see PHASES); a scenario may override it per federate."""
    long_steps: ClassVar[bool] = False
    """Its steps are long solves (an optimisation) that pace the whole federation."""
    clock_port: ClassVar[str | None] = None
    """A port whose clock the other federates follow (see `follow_slack_steps`)."""
    outputs: ClassVar[tuple[str, ...]] = ()
    """Ports this kind always publishes; peers find their sources by these names."""

    def __init__(self, runtime: RuntimeConfig, config: BaseModel):
        self.runtime = runtime
        self.config = config

    @classmethod
    def interfaces(cls, runtime: RuntimeConfig, config: BaseModel) -> Interfaces:
        raise NotImplementedError

    @classmethod
    def autowire(cls, name: str, config: BaseModel, context: ScenarioContext) -> BaseModel:
        """Fill config fields that depend on the rest of the scenario (feeder, peers, seed).

        Called by the runner at compile time, so the per-federate config written by
        `--dry-run` is complete. Default: unchanged.
        """
        return config

    @classmethod
    def follow_slack_steps(cls, config: BaseModel, paced: bool) -> int:
        """Steps the other federates may run ahead of this one's `clock_port` (0: they do
        not follow it). `paced` is True when a federate with `long_steps` is in the run."""
        return 0

    @classmethod
    def run_facts(cls, name: str, config: BaseModel) -> dict[str, Any]:
        """Facts this federate states about the run for other kinds' `use_facts` (e.g. the
        grid: `{"island": {...}}`); a value may be a function of no argument, computed only
        if a peer asks. Kinds agree on a fact's name and shape, as on a payload; none
        imports another."""
        return {}

    @classmethod
    def use_facts(cls, name: str, config: BaseModel, facts: RunFacts) -> BaseModel:
        """Check this federate against the rest of the run and fill what depends on it
        (after every federate's `autowire`). Raise ValueError('<field>: why')."""
        return config

    @classmethod
    def check(cls, name: str, config: BaseModel, context: ScenarioContext) -> None:
        """Check, at compile time, what only the federate would otherwise find out when it
        runs: open and parse every file it will read, check every bus or id it references
        against the feeder. Raises ValueError whose message starts with the config field
        path, e.g. "items[2].bus: '999' is not a bus of ieee123". Default: nothing to check.
        """

    @classmethod
    def report(cls, name: str, config: BaseModel, timeseries: Any, plots_dir: Any) -> dict:
        """Post-run metrics (and plots into `plots_dir`) of this federate.

        `timeseries` is the run's long-format pandas DataFrame (time, signal, id, value)
        with signal = '<federate>.<field>'. Returns a JSON-able dict for metrics.json.
        """
        return {}

    @classmethod
    def counterfactual_variants(cls, name: str, config: BaseModel) -> dict[str, dict[str, Any]]:
        """Variants of the scenario this federate implies for `gridfed run --counterfactual`:
        variant name -> {`--set` key: value}, e.g. {"no_attack": {"<name>.attacks": []}}.
        Same-named variants of several federates are merged. Default: none."""
        return {}

    @classmethod
    def compare_variants(cls, name: str, config: BaseModel,
                         runs: dict[str, dict[str, Any]]) -> tuple[dict, str] | None:
        """Compare the counterfactual runs side by side: `runs` maps "main" and each variant
        name to {"dir", "metrics", "timeseries", "config" (this federate's config in that
        run, or None)}. Returns (JSON-able data, markdown) or None (no comparison)."""
        return None

    def on_start(self, io: StepIO) -> None:
        """Called once before the federation starts executing: build the model here (its
        cost overlaps with the other federates' set-up). Values published here are initial
        values."""

    def on_step(self, io: StepIO) -> None:
        raise NotImplementedError

    def on_stop(self, io: StepIO, completed: bool) -> None:
        """Called once at the end; `completed` is False when the run is being aborted."""


def _create_federate(cfg: RuntimeConfig) -> Any:
    info = h.helicsCreateFederateInfo()
    h.helicsFederateInfoSetCoreTypeFromString(info, cfg.core_type)
    h.helicsFederateInfoSetCoreInitString(info, helics_core_init(cfg))
    if cfg.local_port is not None:
        h.helicsFederateInfoSetLocalPort(info, str(cfg.local_port))
    # No HELICS period/offset properties: with them HELICS assumes a federate publishes only
    # on its next period boundary and grants later phases before the earlier phase has
    # published, which would add a hidden one-step lag. Exact time requests keep the order.
    h.helicsFederateInfoSetFlagOption(info, h.HELICS_FLAG_UNINTERRUPTIBLE, True)
    if cfg.output_delay > 0:
        h.helicsFederateInfoSetTimeProperty(info, h.HELICS_PROPERTY_TIME_OUTPUT_DELAY,
                                            cfg.output_delay)
    h.helicsFederateInfoSetFlagOption(info, h.HELICS_FLAG_TERMINATE_ON_ERROR, True)
    h.helicsFederateInfoSetIntegerProperty(info, h.HELICS_PROPERTY_INT_LOG_LEVEL, -1)
    return h.helicsCreateCombinationFederate(cfg.name, info)


def _register(fed: Any, io: StepIO, interfaces: Interfaces) -> None:
    types = {"string": h.HELICS_DATA_TYPE_STRING, "vector": h.HELICS_DATA_TYPE_VECTOR,
             "double": h.HELICS_DATA_TYPE_DOUBLE}
    for pub in interfaces.publications:
        io._pubs[pub.port] = h.helicsFederateRegisterPublication(
            fed, pub.port, types[pub.type], pub.units)
        io._pub_types[pub.port] = pub.type
    for sub in interfaces.subscriptions:
        io._subs[sub.key] = h.helicsFederateRegisterSubscription(fed, sub.key, "")
        io._sub_types[sub.key] = sub.type
    for ep in interfaces.endpoints:
        io._eps[ep.port] = h.helicsFederateRegisterEndpoint(fed, ep.port, "")
    for spec in interfaces.filters:
        io._filters[spec.name] = (_register_filter(fed, spec), spec.kind)


def _register_filter(fed: Any, spec: FilterSpec) -> Any:
    kind = h.HELICS_FILTER_TYPE_RANDOM_DROP if spec.kind == "drop" else h.HELICS_FILTER_TYPE_DELAY
    filt = h.helicsFederateRegisterGlobalFilter(fed, kind, spec.name)
    h.helicsFilterSet(filt, "prob" if spec.kind == "drop" else "delay", 0.0)
    for target in spec.targets:
        if spec.direction in ("both", "source"):
            h.helicsFilterAddSourceTarget(filt, target)
        if spec.direction in ("both", "destination"):
            h.helicsFilterAddDestinationTarget(filt, target)
    return filt


def step_times(cfg: RuntimeConfig) -> Iterator[tuple[int, float]]:
    """(k, nominal time) of every step from start_time to stop_time inclusive."""
    n = int(math.floor((cfg.stop_time - cfg.start_time) / cfg.period + 1e-9))
    for k in range(n + 1):
        yield k, cfg.start_time + k * cfg.period


def run(wrapper: FederateWrapper, trace: Path | None = None) -> int:
    """Join the federation, drive the time loop, leave cleanly. Returns a process exit code.

    `trace`: write there, per step, [HELICS time, wall clock of the request, of the grant,
    of the end of the step] (`time.monotonic`, one clock for all processes of the machine),
    so `benchmarks/critical_path.py` can tell which federate each step waited for."""
    cfg = wrapper.runtime
    clock = {"start": time.perf_counter()}
    fed = _create_federate(cfg)
    print(CREATED, flush=True)  # the runner waits for this: the core has bound its port
    live = [True]  # the federate still exists (a stop may come after it was freed)

    def stop_federation(signum: int) -> None:
        """A stop signal ends a blocked time request at once: the federation errors out."""
        if live[0]:
            h.helicsFederateGlobalError(fed, 2, f"{cfg.name}: run stopped (signal {signum})")

    on_stop_signal(stop_federation)
    io = StepIO(fed=fed, name=cfg.name)
    completed = False
    try:
        _register(fed, io, wrapper.interfaces(cfg, wrapper.config))
        for key in cfg.follow:
            h.helicsFederateRegisterSubscription(fed, key, "")
        wrapper.on_start(io)  # heavy set-up overlaps with the other federates' set-up
        clock["started"] = time.perf_counter()
        h.helicsFederateEnterExecutingMode(fed)
        clock["executing"] = time.perf_counter()
        offset = cfg.phase * PHASE_EPSILON
        stamps: list[tuple[float, float, float, float]] = []
        for k, t in step_times(cfg):
            target = t + offset
            requested = time.monotonic()
            granted = h.helicsFederateRequestTime(fed, target)
            if granted + 1e-9 < target:  # HELICS ended the time loop: the federation stopped
                raise FederationStopped(f"{cfg.name}: granted {granted}, requested {target}")
            started = time.monotonic()
            io.time, io.step = t, k
            wrapper.on_step(io)
            if trace is not None:
                stamps.append((target, requested, started, time.monotonic()))
        if trace is not None:
            trace.write_text(json.dumps(stamps))
        clock["looped"] = time.perf_counter()
        if io._filters:
            # a filter acts in its owner's core: the owner stays until every other federate
            # has left, or the last messages through its filters would have nowhere to go
            h.helicsFederateRequestTime(fed, cfg.stop_time + cfg.period)
        completed = True
        wrapper.on_stop(io, completed=True)
        return 0
    except BaseException as exc:  # noqa: BLE001 - any failure must take the federation down
        message = f"{cfg.name} failed at t={io.time}: {exc!r}"
        interrupted = isinstance(exc, KeyboardInterrupt)
        collateral = isinstance(exc, h.HelicsException | FederationStopped) or stopping()
        print(f"{FAILED} " + json.dumps({"wall": time.time(), "t": io.time, "own": not (
            interrupted or collateral), "error": message[:2000]}), file=sys.stderr, flush=True)
        if not (interrupted or collateral):  # only its own failure needs the traceback
            traceback.print_exc(file=sys.stderr)
        try:
            wrapper.on_stop(io, completed=False)
        except Exception:  # noqa: BLE001
            traceback.print_exc(file=sys.stderr)
        try:
            h.helicsFederateGlobalError(fed, 1, message[:200])
        except Exception:  # noqa: BLE001
            pass
        if interrupted:
            return EXIT_INTERRUPTED
        return EXIT_COLLATERAL if collateral else EXIT_FAILED
    finally:
        try:
            if completed:
                h.helicsFederateDisconnect(fed)
            live[0] = False
            h.helicsFederateFree(fed)
        except Exception:  # noqa: BLE001
            pass
        h.helicsCloseLibrary()
        _log_timing(cfg.name, clock, io.step)
        if io.wire:
            print(f"gridfed wire counts {cfg.name}: {json.dumps(io.wire, sort_keys=True)}",
                  flush=True)


def _log_timing(name: str, clock: dict[str, float], steps: int) -> None:
    """One line in the federate's log: where its wall time went."""
    marks = ["start", "started", "executing", "looped"]
    have = [m for m in marks if m in clock] + ["end"]
    clock["end"] = time.perf_counter()
    parts = [f"{b}={clock[b] - clock[a]:.3f}s" for a, b in zip(have, have[1:], strict=False)]
    usage = resource.getrusage(resource.RUSAGE_SELF)  # all threads, HELICS's included
    print(f"gridfed timing {name}: {' '.join(parts)} steps={steps + 1} "
          f"cpu_user={usage.ru_utime:.3f}s cpu_sys={usage.ru_stime:.3f}s", flush=True)


class BrokerHandle:
    """A HELICS broker created in this process (the runner starts it in a child process)."""

    def __init__(self, core_type: str, init: str):
        self._broker = h.helicsCreateBroker(core_type, "", init)

    def connected(self) -> bool:
        return bool(h.helicsBrokerIsConnected(self._broker))

    def wait(self, timeout_ms: int) -> bool:
        """Wait until every federate has disconnected; True if it happened in time."""
        return bool(h.helicsBrokerWaitForDisconnect(self._broker, timeout_ms))

    def abort(self, message: str) -> None:
        """End the federation now: every federate's pending HELICS call returns an error."""
        h.helicsBrokerGlobalError(self._broker, 2, message.encode())  # binding wants bytes

    def close(self) -> None:
        h.helicsBrokerDisconnect(self._broker)
        h.helicsBrokerFree(self._broker)
        h.helicsCloseLibrary()
