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


def is_custom(kind: str) -> bool:
    """A user federate given as 'package.module:WrapperClass' (importable from the cwd)."""
    return ":" in kind


def wrapper_class(kind: str) -> type[FederateWrapper]:
    if kind not in KINDS and not is_custom(kind):
        raise KeyError(f"unknown federate kind {kind!r}; expected one of {sorted(KINDS)} "
                       "or 'module:WrapperClass'")
    module_name, _, cls_name = KINDS.get(kind, kind).partition(":")
    cls = getattr(importlib.import_module(module_name), cls_name, None)
    if not (isinstance(cls, type) and issubclass(cls, FederateWrapper)):
        raise KeyError(f"federate kind {kind!r}: {cls_name} is not a FederateWrapper "
                       f"in {module_name}")
    return cls
