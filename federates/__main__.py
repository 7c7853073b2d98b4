"""Child-process entry point: `python -m federates CONFIG.json` runs one federate.

CONFIG.json = {"kind": ..., "runtime": RuntimeConfig, "config": <kind's config model>}.
"""

from __future__ import annotations

import ctypes
import json
import signal
import sys
from pathlib import Path


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM this process when the runner dies, so nothing is orphaned."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except OSError:
            pass


def _raise_on_term(signum, frame):  # noqa: ARG001
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m federates CONFIG.json", file=sys.stderr)
        return 2
    _die_with_parent()
    signal.signal(signal.SIGTERM, _raise_on_term)
    from federates.registry import wrapper_class
    from federates.runtime import RuntimeConfig, run

    spec = json.loads(Path(argv[0]).read_text())
    cls = wrapper_class(spec["kind"])
    runtime = RuntimeConfig.model_validate(spec["runtime"])
    config = cls.config_model.model_validate(spec.get("config", {}))
    return run(cls(runtime, config))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
