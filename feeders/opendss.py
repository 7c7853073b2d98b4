"""OpenDSS helpers shared by the grid model and the market's validation replay.

`make_island` opens the PCC element's substation-side terminal and moves the circuit's
source to the grid-forming bus (the islanded feeder); `source_power` reads what the source
delivers. Both act on opendssdirect's default engine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import opendssdirect as dss

SOURCE = "Vsource.source"


@dataclass
class IslandSetup:
    """Substation open; a grid-forming unit at `former_bus` ('' = PCC's feeder side)."""

    former_bus: str = ""
    v_pu: float = 1.0


def _check(result: str, command: str) -> None:
    if result and ("error" in result.lower() or "not found" in result.lower()):
        raise RuntimeError(f"OpenDSS rejected {command!r}: {result}")


def make_island(pcc_element: str, island: IslandSetup) -> str:
    """In the compiled circuit: open the PCC element's substation-side terminal, move the
    source to the grid-forming bus and switch off a regulator control on an opened PCC
    transformer; returns the grid-forming bus."""
    dss.Circuit.SetActiveElement(pcc_element)
    buses = dss.CktElement.BusNames()
    bus = island.former_bus or buses[-1].split(".")[0]
    if not dss.Circuit.SetActiveBus(bus) >= 0 or not dss.Bus.Nodes():
        raise KeyError(f"island former bus {bus!r} is not in the feeder")
    nodes = [n for n in dss.Bus.Nodes() if n in (1, 2, 3)]
    kv = dss.Bus.kVBase() * (np.sqrt(3) if len(nodes) > 1 else 1.0)
    commands = [] if pcc_element.lower() == SOURCE.lower() else [f"Open {pcc_element} 1"]
    commands.append(f"Edit {SOURCE} bus1={bus}.{'.'.join(map(str, nodes))} "
                    f"phases={len(nodes)} basekv={kv:.6f} pu={island.v_pu} angle=0")
    for command in commands:
        _check(dss.Text.Command(command) or "", command)
    if pcc_element.lower().startswith("transformer."):
        name = pcc_element.split(".", 1)[1].lower()
        for reg in dss.RegControls.AllNames() or []:
            dss.RegControls.Name(reg)
            if dss.RegControls.Transformer().lower() == name:
                dss.Text.Command(f"RegControl.{reg}.enabled=no")
    dss.Solution.Solve()  # rebuilds the bus list: node names follow the new source
    return bus


def source_power() -> tuple[float, float]:
    """(P kW, Q kvar) delivered by the circuit's source (the grid-forming unit when
    islanded)."""
    dss.Circuit.SetActiveElement(SOURCE)
    powers = np.asarray(dss.CktElement.Powers())
    first = powers[: len(powers) // dss.CktElement.NumTerminals()]
    return -float(first[0::2].sum()), -float(first[1::2].sum())
