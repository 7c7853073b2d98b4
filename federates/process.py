"""Process hygiene shared by every child process of a run (broker and federates)."""

from __future__ import annotations

import ctypes
import signal
import sys


def die_with_parent() -> None:
    """Ask Linux to SIGTERM this process when its parent (the runner) dies: no orphans."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except OSError:
            pass


def _raise_interrupt(signum, frame):  # noqa: ARG001
    raise KeyboardInterrupt(f"signal {signum}")


def terminate_as_interrupt() -> None:
    """Turn SIGTERM into KeyboardInterrupt so cleanup code runs before the process exits."""
    signal.signal(signal.SIGTERM, _raise_interrupt)
