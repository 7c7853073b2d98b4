"""Pure OpenDSS grid model: compile a feeder, apply load shape and injections, solve, measure.

No HELICS here. The model owns one OpenDSS engine (opendssdirect's default instance), so one
process holds one grid model. Measurements use OpenDSS bulk getters, never Python loops over
network elements.

Load shape: the baseline spot loads of the feeder follow a per-unit daily shape through
OpenDSS's global `LoadMult`. Injections are extra constant-PQ loads that gridfed adds at
each bus that receives injections; since `LoadMult` scales every load, their kW/kvar are
divided by the multiplier so that the power drawn is exactly what the sources asked for.

Islanded mode (`GridSetup.island`): the PCC element's substation-side terminal is opened and
the circuit's source (`Vsource.source`) moves to the grid-forming bus, where it holds the
configured voltage behind its short-circuit impedance, like a grid-forming inverter with
ample capacity. The PCC import is then 0 by construction, and the source's output -- the
island's load plus losses -- is published as `island_p_kw` / `island_q_kvar`. A regulator
control on the opened PCC transformer is switched off (it has nothing to regulate).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import opendssdirect as dss

from federates.messages import GridState, Injection
from feeders.network import DEFAULT_TAP_STEP
from feeders.opendss import SOURCE, IslandSetup, make_island, source_power

ANSI_A = (0.95, 1.05)
ANSI_B = (0.917, 1.058)
INJECTION_PREFIX = "gridfed_inj_"

InjectionKey = tuple[str, tuple[int, ...] | None]  # (bus, phases or None = all phases)


@dataclass
class GridSetup:
    """Everything the model needs to build itself (comes from the feeder and the config)."""

    commands: list[str]
    pcc_element: str
    pcc_sign: float = 1.0
    regulators: list[str] = field(default_factory=list)
    locked_taps: dict[str, int] | None = None
    regulator_control: bool = True
    capacitor_control: bool = True
    baseline_enabled: bool = True
    max_control_iterations: int = 30
    tolerance: float = 1e-8
    island: IslandSetup | None = None
    tap_step: float = DEFAULT_TAP_STEP
    """Regulator tap step of the feeder [pu per step] (the feeder catalog's ``tap_step``)."""


def _check(result: str, command: str) -> None:
    if result and ("error" in result.lower() or "not found" in result.lower()):
        raise RuntimeError(f"OpenDSS rejected {command!r}: {result}")


class GridModel:
    """One OpenDSS circuit driven step by step."""

    def __init__(self, setup: GridSetup):
        self.setup = setup
        for command in setup.commands:
            _check(dss.Text.Command(command) or "", command)
        self._configure_controls()
        self.former_bus = self._make_island(setup.island) if setup.island else None
        self.node_names: list[str] = list(dss.Circuit.AllNodeNames())
        self.base_load_names: list[str] = list(dss.Loads.AllNames())
        self._base_kw, self._base_kvar, self._base_bus = self._read_base_loads()
        if not setup.baseline_enabled:
            self._zero_baseline()
        pd_names = list(dss.PDElements.AllNames())
        self._line_mask = np.array([n.lower().startswith("line.") for n in pd_names])
        self.line_names = [n.split(".", 1)[1] for n, m in zip(pd_names, self._line_mask,
                                                              strict=True) if m]
        # Injection loads, one "slot" each in creation order; per-slot lists grow together.
        self._inj_slot: dict[InjectionKey, int] = {}
        self._inj_bus: list[str] = []
        self._inj_load: list[int] = []  # OpenDSS load index (1-based)
        self._inj_p: list[float] = []  # requested kW / kvar (sum over sources)
        self._inj_q: list[float] = []
        self._inj_order: list[int] = []  # slots in the order the last injections named them
        self._inj_written = np.empty((0, 2))  # kW, kvar last written to OpenDSS (NaN = never)
        self._base_bus_kw: tuple[float, dict[str, float]] = (np.nan, {})
        self.load_mult = 1.0

    # ------------------------------------------------------------------ set-up
    def _configure_controls(self) -> None:
        if self.setup.locked_taps is not None:
            for reg, tap in self.setup.locked_taps.items():
                self.set_tap(reg, tap)
        for name in dss.RegControls.AllNames() or []:
            enabled = self.setup.regulator_control and self.setup.locked_taps is None
            dss.Text.Command(f"RegControl.{name}.enabled={'yes' if enabled else 'no'}")
        for name in dss.CapControls.AllNames() or []:
            dss.Text.Command(
                f"CapControl.{name}.enabled={'yes' if self.setup.capacitor_control else 'no'}")
        dss.Solution.MaxControlIterations(self.setup.max_control_iterations)
        # A tight tolerance makes each solve independent of the previous one (warm start)
        # to ~1e-8 pu, so results do not depend on the step history.
        dss.Solution.Convergence(self.setup.tolerance)

    def _pcc_is_source(self) -> bool:
        return self.setup.pcc_element.lower() == SOURCE.lower()

    def _make_island(self, island: IslandSetup) -> str:
        """Open the substation and move the source to the grid-forming bus; returns the bus."""
        return make_island(self.setup.pcc_element, island)

    def island_power(self) -> tuple[float, float]:
        """(P kW, Q kvar) delivered by the grid-forming unit (0, 0 when grid-connected)."""
        if self.former_bus is None:
            return 0.0, 0.0
        return source_power()

    def set_tap(self, regulator: str, tap: int) -> None:
        """Set a regulator (transformer) winding-2 tap position in the feeder's tap steps."""
        dss.Transformers.Name(regulator)
        dss.Transformers.Wdg(2)
        dss.Transformers.Tap(1.0 + self.setup.tap_step * tap)

    def _read_base_loads(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        kw, kvar, buses = [], [], []
        idx = dss.Loads.First()
        while idx:
            kw.append(dss.Loads.kW())
            kvar.append(dss.Loads.kvar())
            buses.append(dss.CktElement.BusNames()[0].split(".")[0])
            idx = dss.Loads.Next()
        return np.array(kw), np.array(kvar), buses

    def _zero_baseline(self) -> None:
        for name in self.base_load_names:
            dss.Loads.Name(name)
            dss.Loads.kW(0.0)
            dss.Loads.kvar(0.0)
        self._base_kw[:] = 0.0
        self._base_kvar[:] = 0.0

    def _bus_nodes(self, bus: str) -> list[int]:
        if not dss.Circuit.SetActiveBus(bus) >= 0:
            raise KeyError(f"bus {bus!r} is not in the feeder")
        return [n for n in dss.Bus.Nodes() if n in (1, 2, 3)]

    def _add_injection_slot(self, key: InjectionKey) -> int:
        """Create the injection load for `key` and give it the next slot; returns the slot."""
        bus, phases = key
        name = bus if phases is None else f"{bus}.{'.'.join(map(str, phases))}"
        load = self._injection_load(name, bus, list(phases) if phases else None)
        slot = len(self._inj_load)
        self._inj_slot[key] = slot
        self._inj_bus.append(bus)
        self._inj_load.append(load)
        self._inj_p.append(0.0)  # created with kW=0 kvar=0: nothing requested yet
        self._inj_q.append(0.0)
        self._inj_written = np.vstack((self._inj_written, [np.nan, np.nan]))
        return slot

    def _injection_load(self, key: str, bus: str, phases: list[int] | None) -> int:
        """Create the constant-PQ load carrying injections at `bus`; returns its index."""
        nodes = phases or self._bus_nodes(bus)
        if not nodes:
            raise KeyError(f"bus {bus!r} has no phase conductors")
        dss.Circuit.SetActiveBus(bus)
        kv_ln = dss.Bus.kVBase()
        kv = kv_ln * np.sqrt(3) if len(nodes) > 1 else kv_ln
        name = INJECTION_PREFIX + key.replace(".", "_")
        command = (
            f"New Load.{name} bus1={bus}.{'.'.join(map(str, nodes))} phases={len(nodes)} "
            f"conn=wye model=1 kV={kv:.6f} kW=0 kvar=0 vminpu=0.5 vmaxpu=1.5"
        )
        _check(dss.Text.Command(command) or "", command)
        dss.Loads.Name(name)
        return dss.Loads.Idx()

    # ------------------------------------------------------------------ per step
    def set_load_multiplier(self, mult: float) -> None:
        if mult <= 0:
            raise ValueError(f"load multiplier must be > 0, got {mult}")
        self.load_mult = float(mult)
        dss.Solution.LoadMult(self.load_mult)

    def apply_injections(self, sources: dict[str, list[Injection]]) -> None:
        """Set the net power at each bus to the sum of every source's injections there.

        `sources` maps a source name to its latest injection list; a bus a source no longer
        mentions goes back to zero for that source (a set replaces the previous one).
        """
        p = [0.0] * len(self._inj_load)
        q = [0.0] * len(self._inj_load)
        named: dict[int, None] = {}  # slots in order of first mention
        slots = self._inj_slot
        for items in sources.values():
            for inj in items:
                key = (inj.bus, tuple(inj.phases) if inj.phases else None)
                slot = slots.get(key)
                if slot is None:
                    slot = self._add_injection_slot(key)
                    p.append(0.0)
                    q.append(0.0)
                p[slot] += inj.p_kw
                q[slot] += inj.q_kvar
                named[slot] = None
        self._inj_p, self._inj_q = p, q
        self._inj_order = [*named, *(s for s in range(len(self._inj_load)) if s not in named)]
        self._write_injections()

    def _write_injections(self) -> None:
        """Write kW/kvar (requested / LoadMult) of the injection loads whose value changed.

        A load whose values are bit-for-bit those already written is skipped: rewriting it
        would leave the engine exactly as it is. The rest go through the DSS C-API setters
        that opendssdirect's `Loads.Idx/kW/kvar` call, minus their per-call Python wrapper;
        errors are checked once at the end. This is the one place gridfed reaches into
        opendssdirect's internals (`Loads._lib`, pinned `<0.10`): with the skip above it
        took the grid step from 0.9 to 0.5 ms (IEEE 123 with 85 injection buses), and
        tests/test_grid_hotpath.py fails loudly if an upgrade moves it.
        """
        values = np.column_stack((self._inj_p, self._inj_q)) * (1.0 / self.load_mult)
        changed = (values.view(np.int64) != self._inj_written.view(np.int64)).any(axis=1)
        if not changed.any():
            return
        lib = dss.Loads._lib
        loads = self._inj_load
        kw, kvar = values.T.tolist()
        for slot in np.flatnonzero(changed).tolist():
            lib.Loads_Set_idx(loads[slot])
            lib.Loads_Set_kW(kw[slot])
            lib.Loads_Set_kvar(kvar[slot])
        dss.Loads._check_for_error()
        self._inj_written = values

    def solve(self) -> bool:
        """Solve the power flow with the configured controls; True if it converged."""
        self._write_injections()  # keep injections exact if the multiplier changed
        dss.Solution.Solve()
        return bool(dss.Solution.Converged())

    # ------------------------------------------------------------------ measurements
    def pcc_power(self) -> tuple[float, float]:
        """(P kW, Q kvar) imported: pcc_sign * power into the PCC element's terminal 1."""
        if self.former_bus is not None and self._pcc_is_source():
            return 0.0, 0.0  # the source is the grid-forming unit: nothing is imported
        dss.Circuit.SetActiveElement(self.setup.pcc_element)
        powers = np.asarray(dss.CktElement.Powers())
        first = powers[: len(powers) // dss.CktElement.NumTerminals()]
        sign = self.setup.pcc_sign
        return sign * float(first[0::2].sum()), sign * float(first[1::2].sum())

    def voltages_pu(self) -> np.ndarray:
        return np.asarray(dss.Circuit.AllBusMagPu())

    def taps(self) -> dict[str, int]:
        out = {}
        for reg in self.setup.regulators:
            dss.Transformers.Name(reg)
            dss.Transformers.Wdg(2)
            out[reg] = int(round((dss.Transformers.Tap() - 1.0) / self.setup.tap_step))
        return out

    def bus_load_kw(self) -> dict[str, float]:
        """Active power drawn at each bus that has baseline load or injections (requested)."""
        mult, base = self._base_bus_kw
        if mult != self.load_mult:  # baseline per bus, recomputed only when LoadMult changes
            base = {}
            for bus, kw in zip(self._base_bus, self._base_kw * self.load_mult, strict=True):
                base[bus] = base.get(bus, 0.0) + float(kw)
            self._base_bus_kw = (self.load_mult, base)
        out = dict(base)
        for slot in self._inj_order:
            bus = self._inj_bus[slot]
            out[bus] = out.get(bus, 0.0) + self._inj_p[slot]
        return out

    def measure(self, time: float, converged: bool) -> GridState:
        v = self.voltages_pu()
        live = v > 0.1  # de-energised nodes are not voltage violations
        vl = v[live]
        p, q = self.pcc_power()
        losses = np.asarray(dss.Circuit.Losses()) / 1000.0
        loading = np.asarray(dss.PDElements.AllPctNorm())[self._line_mask]
        taps = self.taps()
        island_p, island_q = self.island_power()
        return GridState(
            time=time,
            converged=converged,
            pcc_p_kw=p,
            pcc_q_kvar=q,
            losses_kw=float(losses[0]),
            losses_kvar=float(losses[1]),
            v_min_pu=float(vl.min()) if vl.size else 0.0,
            v_max_pu=float(vl.max()) if vl.size else 0.0,
            ansi_a_violations=int(((vl < ANSI_A[0]) | (vl > ANSI_A[1])).sum()),
            ansi_b_violations=int(((vl < ANSI_B[0]) | (vl > ANSI_B[1])).sum()),
            node_names=self.node_names,
            v_pu=np.round(v, 7).tolist(),
            line_names=self.line_names,
            line_loading_pct=np.round(loading, 4).tolist(),
            tap_names=list(taps),
            taps=list(taps.values()),
            bus_p_kw=self.bus_load_kw(),
            island_p_kw=island_p,
            island_q_kvar=island_q,
        )

    def step(self, time: float, load_mult: float, sources: dict[str, list[Injection]]) -> GridState:
        """One time step: shape, injections, solve, measure."""
        self.set_load_multiplier(load_mult)
        self.apply_injections(sources)
        return self.measure(time, self.solve())
