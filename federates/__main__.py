"""Child-process entry point: `python -m federates CONFIG.json` runs one federate.

CONFIG.json = {"kind": ..., "runtime": RuntimeConfig, "config": <kind's config model>}.
With GRIDFED_PROFILE=1 in the environment the federate runs under cProfile and writes
`logs/<name>.prof` in the results folder (read it with `python -m pstats`).
"""

from __future__ import annotations

import faulthandler
import json
import os
import signal
import sys
from pathlib import Path

from federates.process import die_with_parent, terminate_as_interrupt


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m federates CONFIG.json", file=sys.stderr)
        return 2
    die_with_parent()
    terminate_as_interrupt()
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 PID` prints every thread's stack
    from federates.registry import wrapper_class
    from federates.runtime import RuntimeConfig, run

    spec = json.loads(Path(argv[0]).read_text())
    cls = wrapper_class(spec["kind"])
    runtime = RuntimeConfig.model_validate(spec["runtime"])
    config = cls.config_model.model_validate(spec.get("config", {}))
    wrapper = cls(runtime, config)
    if os.environ.get("GRIDFED_PROFILE") not in (None, "", "0"):
        import cProfile

        profile_path = Path(argv[0]).resolve().parent.parent / "logs" / f"{runtime.name}.prof"
        with cProfile.Profile() as profiler:
            code = run(wrapper)
        profiler.dump_stats(profile_path)
        return code
    return run(wrapper)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
