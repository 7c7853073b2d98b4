"""Federate kinds known to the runner: kind -> 'module:WrapperClass' (imported lazily)."""

from __future__ import annotations

import importlib

from federates.runtime import FederateWrapper

KINDS: dict[str, str] = {
    "grid": "federates.grid.federate:GridFederate",
    "player": "federates.player.federate:PlayerFederate",
    "recorder": "federates.recorder.federate:RecorderFederate",
    "iot": "federates.iot.federate:IotFederate",
    "market": "federates.market.federate:MarketFederate",
    "resilience": "federates.resilience.federate:ResilienceFederate",
    "attacker": "federates.attacker.federate:AttackerFederate",
}


def wrapper_class(kind: str) -> type[FederateWrapper]:
    if kind not in KINDS:
        raise KeyError(f"unknown federate kind {kind!r}; expected one of {sorted(KINDS)}")
    module_name, _, cls_name = KINDS[kind].partition(":")
    return getattr(importlib.import_module(module_name), cls_name)
