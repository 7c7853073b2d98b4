"""Start a run's broker and federates by forking a process that has imported them once.

`python -m federates CONFIG.json` spends ~0.7 CPU-s importing (pydantic models, numpy,
pandas, OpenDSS, HELICS) before its federate does anything; a 1 h baseline_ieee123 point
does ~0.2 s of stepping. A sweep worker imports everything once (`warm_up`), and each of
its runs forks its broker and federates from it: the child runs the very same entry point
(`federates.__main__.main`, `runner.broker.main`) with the same config file, so results do
not change. A forked child gets its own session (process group), its output goes to its
log, and it dies with its parent, as a spawned one does.

Forking is only safe from a process with no Python threads; `ForkSpawner` checks this and
the sweep's point process never starts one before its federation has finished.
"""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from typing import IO

ENTRY_POINTS = {"federates": "federates.__main__", "runner.broker": "runner.broker"}
WARM_MODULES = ("numpy", "pandas", "pyarrow.parquet", "pydantic", "yaml", "helics",
                "federates.runtime", "federates.registry", "runner.broker", "runner.compile",
                "runner.launch", "runner.results", "federates.__main__")


def warm_up(kinds: Iterable[str] = ()) -> None:
    """Import what a run's processes import, once, so forked children start warm."""
    from federates.registry import wrapper_class

    for module in WARM_MODULES:
        importlib.import_module(module)
    for kind in kinds:
        wrapper_class(kind)


class ForkedProcess:
    """The `subprocess.Popen` surface `runner.launch.Federation` uses, for a forked child."""

    def __init__(self, pid: int, args: list[str]):
        self.pid = pid
        self.args = args
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # already reaped elsewhere
                self.returncode = -1
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
            time.sleep(0.005)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)


def fork_spawn(args: list[str], log: IO[bytes], env: dict[str, str]) -> ForkedProcess:
    """Fork a child that runs `python ARGS` in-process (`-m federates ...` or
    `-m runner.broker ...`); anything else is exec'd as usual."""
    if threading.active_count() != 1:
        raise RuntimeError("fork_spawn needs a process without threads")
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return ForkedProcess(pid, args)
    code = 70  # EX_SOFTWARE, if anything below fails before the entry point returns
    try:
        os.setsid()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        os.environ.clear()
        os.environ.update(env)
        module = ENTRY_POINTS.get(args[1]) if len(args) > 1 and args[0] == "-m" else None
        if module is None:
            os.execve(sys.executable, [sys.executable, *args], env)
        main = importlib.import_module(module).main
        code = int(main(args[2:]) or 0)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - report and leave with a failure code
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)
