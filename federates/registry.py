"""Federate kinds known to the runner, imported lazily.

Three sources, in this order: the kinds shipped with gridfed, kinds that installed packages
declare in the `gridfed.kinds` entry-point group (`name = "package.module:Wrapper"`), and
kinds a scenario names directly as `"module:Wrapper"` (importable from the current folder
or PYTHONPATH). The runner asks only this module, so adding a kind never touches runner/.
"""

from __future__ import annotations

import importlib
import os
import sys
from functools import cache
from importlib.metadata import entry_points

from federates.runtime import FederateWrapper

ENTRY_POINT_GROUP = "gridfed.kinds"

BUILTIN_KINDS: dict[str, str] = {
    "grid": "federates.grid.federate:GridFederate",
    "player": "federates.player.federate:PlayerFederate",
    "recorder": "federates.recorder.federate:RecorderFederate",
    "iot": "federates.iot.federate:IotFederate",
    "market": "federates.market.federate:MarketFederate",
    "resilience": "federates.resilience.federate:ResilienceFederate",
    "attacker": "federates.attacker.federate:AttackerFederate",
}


@cache
def installed_kinds() -> dict[str, str]:
    """Kinds declared by installed packages (entry points); a shipped name cannot be taken."""
    found: dict[str, str] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in BUILTIN_KINDS:
            found[ep.name] = ep.value
    return found


def known_kinds() -> dict[str, str]:
    """Every kind name a scenario may use -> 'module:Wrapper'."""
    return {**BUILTIN_KINDS, **installed_kinds()}


def is_custom(kind: str) -> bool:
    """A user federate given as 'package.module:WrapperClass' (importable from the cwd)."""
    return ":" in kind


def _import(module_name: str, custom: bool):
    if custom and os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())  # a user's module next to the scenario, as documented
    return importlib.import_module(module_name)


def wrapper_class(kind: str) -> type[FederateWrapper]:
    kinds = known_kinds()
    if kind not in kinds and not is_custom(kind):
        raise KeyError(f"unknown federate kind {kind!r}; expected one of {sorted(kinds)} "
                       "or 'module:WrapperClass'")
    module_name, _, cls_name = kinds.get(kind, kind).partition(":")
    try:
        module = _import(module_name, is_custom(kind))
    except ImportError as exc:
        raise KeyError(f"federate kind {kind!r}: cannot import module {module_name!r} "
                       f"({exc}); is it in the current folder or on PYTHONPATH?") from None
    cls = getattr(module, cls_name, None)
    if not (isinstance(cls, type) and issubclass(cls, FederateWrapper)):
        raise KeyError(f"federate kind {kind!r}: {cls_name} is not a FederateWrapper "
                       f"in {module_name}")
    return cls
