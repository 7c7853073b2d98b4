"""Child-process entry point: `python -m federates CONFIG.json` runs one federate.

CONFIG.json = {"kind": ..., "runtime": RuntimeConfig, "config": <kind's config model>}.
With GRIDFED_PROFILE=1 in the environment the federate runs under cProfile and writes
`logs/<name>.prof` in the results folder (read it with `python -m pstats`); with
GRIDFED_TRACE=1 it writes `logs/<name>.trace.json`, the wall clock of every step's time
request, grant and end (read them with `python benchmarks/critical_path.py RESULTS`).
"""

from __future__ import annotations

import faulthandler
import json
import os
import signal
import sys
from pathlib import Path

from federates.process import die_with_parent, handle_stop_signals


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m federates CONFIG.json", file=sys.stderr)
        return 2
    die_with_parent()
    handle_stop_signals()
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 PID` prints every thread's stack
    from federates.registry import wrapper_class
    from federates.runtime import RuntimeConfig, run

    spec = json.loads(Path(argv[0]).read_text())
    cls = wrapper_class(spec["kind"])
    runtime = RuntimeConfig.model_validate(spec["runtime"])
    config = cls.config_model.model_validate(spec.get("config", {}))
    wrapper = cls(runtime, config)
    logs = Path(argv[0]).resolve().parent.parent / "logs"
    trace = logs / f"{runtime.name}.trace.json" if _enabled("GRIDFED_TRACE") else None
    if _enabled("GRIDFED_PROFILE"):
        import cProfile

        with cProfile.Profile() as profiler:
            code = run(wrapper, trace)
        profiler.dump_stats(logs / f"{runtime.name}.prof")
        return code
    return run(wrapper, trace)


def _enabled(variable: str) -> bool:
    return os.environ.get(variable) not in (None, "", "0")


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt as exc:  # stopped before joining the federation
        print(f"gridfed federate {exc or 'interrupted'} before it joined the run",
              file=sys.stderr)
        sys.exit(130)
