"""Process hygiene shared by every child process of a run (broker and federates).

A child must (1) die with the runner whatever kills it, and (2) stop by itself within
seconds when asked (SIGINT, SIGTERM, SIGHUP), even while blocked inside a HELICS call.

(1) PR_SET_PDEATHSIG sends SIGTERM when the runner dies; the runner's pid is passed in
GRIDFED_RUNNER_PID so a child whose runner died before the prctl exits at once.
(2) A stop signal raises KeyboardInterrupt in the main thread (cleanup code runs), and is
also written by the C-level handler to a pipe (`signal.set_wakeup_fd`) that a watcher
thread reads: the thread runs the registered stop callbacks at once (the federate raises a
HELICS error, which ends any blocked time request), then ends the process after
`STOP_GRACE_S` if it is still alive (the runner's SIGKILL is only the last resort).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from collections.abc import Callable

RUNNER_PID = "GRIDFED_RUNNER_PID"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
STOP_GRACE_S = 2.0  # a stopped process ends itself this long after the signal
EXIT_STOPPED = 130

_callbacks: list[Callable[[int], None]] = []
_stopping = threading.Event()


class StopRequested(KeyboardInterrupt):
    """A stop signal (Ctrl-C, SIGTERM, SIGHUP) arrived; `signum` says which."""

    def __init__(self, signum: int):
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


def die_with_parent(parent_pid: int | None = None) -> None:
    """Ask Linux to SIGTERM this process when its parent (the runner) dies: no orphans.

    `parent_pid` (default: GRIDFED_RUNNER_PID): if the parent is already gone, exit now."""
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        return
    expected = str(parent_pid) if parent_pid is not None else os.environ.get(RUNNER_PID, "")
    if expected.isdigit() and os.getppid() != int(expected):
        os._exit(EXIT_STOPPED)  # the runner died before the prctl: nobody would stop us


def on_stop_signal(callback: Callable[[int], None]) -> None:
    """Run `callback(signum)` on the watcher thread as soon as a stop signal arrives."""
    _callbacks.append(callback)
    if _stopping.is_set():
        _run(callback, 0)


def stopping() -> bool:
    """Whether a stop signal has arrived."""
    return _stopping.is_set()


def _raise_interrupt(signum: int, frame: object) -> None:  # noqa: ARG001
    if _stopping.is_set() and signum != signal.SIGINT:
        return  # one KeyboardInterrupt is enough; let the cleanup it started finish
    raise StopRequested(signum)


def stop_signals_raise() -> None:
    """In the runner: SIGINT, SIGTERM and SIGHUP raise StopRequested (a KeyboardInterrupt),
    so a closed terminal or `kill` stops the run as Ctrl-C does."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    for signum in STOP_SIGNALS:
        signal.signal(signum, _raise_interrupt)


def handle_stop_signals(grace_s: float = STOP_GRACE_S) -> None:
    """Unblock the stop signals (a child inherits the runner's mask), turn them into
    KeyboardInterrupt, and start the watcher thread that acts on them within milliseconds."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    for signum in STOP_SIGNALS:
        signal.signal(signum, _raise_interrupt)
    signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    threading.Thread(target=_watch, args=(read_fd, grace_s), daemon=True,
                     name="gridfed-stop-watch").start()


def _watch(read_fd: int, grace_s: float) -> None:
    while True:
        data = os.read(read_fd, 64)
        stops = [b for b in data if b in {int(s) for s in STOP_SIGNALS}]
        if stops:
            break
    _stopping.set()
    for callback in list(_callbacks):
        _run(callback, stops[0])
    threading.Event().wait(grace_s)  # the main thread normally exits before this ends
    print(f"gridfed: still running {grace_s:.1f} s after "
          f"{signal.Signals(stops[0]).name}; exiting", file=sys.stderr, flush=True)
    os._exit(EXIT_STOPPED)


def _run(callback: Callable[[int], None], signum: int) -> None:
    try:
        callback(signum)
    except Exception as exc:  # noqa: BLE001 - a stop must go on whatever a callback does
        print(f"gridfed: stop callback failed: {exc!r}", file=sys.stderr, flush=True)

