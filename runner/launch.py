"""Start a run's broker and federates as child processes and watch them.

One failing federate, a wall-clock timeout, Ctrl-C, SIGTERM or SIGHUP stops the whole
federation: every live child receives SIGTERM at once (the broker and each federate raise
a HELICS error that ends every pending time request, so simulated time stops there) and
leaves by itself within `federates.process.STOP_GRACE_S`; SIGKILL only after
`KILL_AFTER_S`. Children also die with the runner whatever kills it (PR_SET_PDEATHSIG),
so nothing survives the run and the broker's port is free again when `run_federation`
returns. The first federate that failed by its own error is the one named.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from federates.process import RUNNER_PID, STOP_GRACE_S, STOP_SIGNALS, StopRequested
from federates.runtime import CREATED, FAILED
from runner.broker import READY

if TYPE_CHECKING:  # annotations only: compile uses this module's free_port
    from runner.compile import Plan

POLL_S = 0.05
FAIL_GRACE_S = 5.0  # after a failure, the others leave on their own (their HELICS error),
# flushing what they hold: ~1 s, more on a loaded machine; only then are they signalled
KILL_AFTER_S = STOP_GRACE_S + 1.0  # SIGTERM -> SIGKILL, only if a child ignored its stop
BROKER_START_S = 20.0
# (args after `python`, log file, environment) -> a started child with Popen's poll/wait/pid
Spawn = Callable[[list[str], IO[bytes], dict[str, str]], Any]
LOCK_WAIT_S = 60.0  # a run never waits longer than this for another run's port choice


def free_port(host: str = "127.0.0.1", span: int = 1) -> int:
    """A TCP port P such that P..P+span-1 are free on `host` right now.

    A ZMQ broker binds P and P+1, so it asks for span=2.
    """
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port + span - 1 <= 65535 and all(_is_free(host, port + i) for i in range(1, span)):
            return port
    raise RuntimeError(f"no {span} consecutive free ports on {host}")


def _is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


@dataclass
class Outcome:
    status: str  # "ok" | "failed" | "timeout" | "interrupted"
    wall_time_s: float
    failed: str | None = None
    exit_codes: dict[str, int | None] = field(default_factory=dict)
    message: str = ""
    stop_s: float | None = None  # from the stop's cause (signal, timeout, first failure)
    # to every child process gone [s]

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class PortLock:
    """Machine-wide lock held from choosing ports until every core of the run has bound its
    port, so two gridfed runs started together never pick the same free port.

    An flock ends with its holder, so a crashed run never blocks the others; a live run
    holds it for seconds, and a run that waited `LOCK_WAIT_S` goes on without it (its ports
    are still free ones, only not reserved)."""

    def __init__(self) -> None:
        self._file = None

    def acquire(self, wait_s: float = LOCK_WAIT_S) -> bool:
        path = Path(tempfile.gettempdir()) / "gridfed-ports.lock"
        try:
            self._file = open(path, "a")  # noqa: SIM115 - held until release()
        except OSError:  # another user's lock file: go on unlocked
            return False
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() > deadline:
                    self._file.close()
                    self._file = None
                    return False
                time.sleep(POLL_S)

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def run_processes(run_dir: Path) -> list[int]:
    """Pids of live processes tagged with this run (GRIDFED_RUN_DIR), from /proc."""
    return processes_with_env("GRIDFED_RUN_DIR", str(run_dir))


def processes_with_env(name: str, value: str) -> list[int]:
    """Pids of live (non-zombie) processes whose environment holds NAME=VALUE, from /proc."""
    tag = f"{name}={value}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().split(") ", 1)[1][0]
        except (OSError, IndexError):
            continue
        if tag in environ.split(b"\0") and state != "Z":
            pids.append(int(entry.name))
    return pids


def tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def failure_record(log: Path) -> dict | None:
    """The failure line a federate printed (runtime.FAILED), or None."""
    try:
        text = log.read_text(errors="replace")
    except FileNotFoundError:
        return None
    for line in text.splitlines():
        if line.startswith(FAILED + " "):
            try:
                return json.loads(line[len(FAILED) + 1:])
            except ValueError:
                return None
    return None


class Federation:
    """The child processes of one run."""

    def __init__(self, plan: Plan, run_dir: Path, spawn: Spawn | None = None):
        self.plan = plan
        self.spawn = spawn  # None: `python ARGS` as a new process (see runner/sweep/fork.py)
        self.run_dir = run_dir
        self.logs = run_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen] = {}

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - owned by the child
        # Children run where gridfed was started, so relative paths in a scenario (CSV
        # profiles, user federates 'module:Class') mean what the user expects. The
        # GRIDFED_RUN_DIR variable tags every process of this run.
        path = os.pathsep.join(p for p in (os.getcwd(), os.environ.get("PYTHONPATH")) if p)
        env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=path,
                   GRIDFED_RUN_DIR=str(self.run_dir), **{RUNNER_PID: str(os.getpid())})
        # A stop signal waits until the child is registered, so none escapes stop(). The
        # child inherits this mask and unblocks the signals first thing (process.py).
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            proc = self.spawn(args, log, env) if self.spawn is not None else subprocess.Popen(
                [sys.executable, *args], stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, env=env,
            )
            self.procs[name] = proc
        finally:
            log.close()
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        return proc

    def start_broker(self) -> None:
        plan = self.plan
        proc = self._spawn("broker", [
            "-m", "runner.broker", "--host", plan.broker_host, "--port", str(plan.broker_port),
            "--key", plan.broker_key, "--name", plan.broker_name,
            "--federates", str(plan.expected_federates),
            "--core-type", plan.scenario.broker.core_type,
            "--log-level", plan.scenario.broker.log_level,
            "--time-coordination", plan.time_coordination,
        ])
        deadline = time.monotonic() + BROKER_START_S
        log = self.logs / "broker.log"
        while time.monotonic() < deadline:
            if READY in log.read_text(errors="replace"):
                return
            if proc.poll() is not None:
                raise RuntimeError(f"broker exited with {proc.returncode}:\n{tail(log)}")
            time.sleep(POLL_S)
        raise RuntimeError(f"broker did not start within {BROKER_START_S:.0f} s:\n{tail(log)}")

    def start_federates(self) -> None:
        for fed in self.plan.federates:
            self._spawn(fed.name, ["-m", "federates", str(self.run_dir / "configs" /
                                                            f"{fed.name}.json")])

    def wait_created(self, deadline: float) -> None:
        """Wait until every federate's core exists (its port is bound) or one has exited,
        at most until `deadline` (time.monotonic)."""
        pending = {f.name for f in self.plan.federates}
        while pending and time.monotonic() < deadline:
            for name in list(pending):
                log = self.logs / f"{name}.log"
                if self.procs[name].poll() is not None or (
                        log.exists() and CREATED in log.read_text(errors="replace")):
                    pending.discard(name)
            if pending:
                time.sleep(POLL_S)

    def watch(self, timeout_s: float, on_tick: Callable[[], None] | None = None,
              start: float | None = None) -> Outcome:
        """Watch the run to its end; the wall-clock limit counts from `start` (default: now)."""
        start = time.monotonic() if start is None else start
        names = [f.name for f in self.plan.federates]
        try:
            while True:
                codes = {n: self.procs[n].poll() for n in names}
                if any(c not in (None, 0) for c in codes.values()):
                    return self._failed(start)
                if all(c == 0 for c in codes.values()):
                    self._wait_broker()
                    return Outcome("ok", time.monotonic() - start, exit_codes=self.exit_codes())
                broker_code = self.procs["broker"].poll()
                if broker_code not in (None, 0):
                    return self._fail("failed", "broker", start,
                                      f"broker exited with code {broker_code}")
                if time.monotonic() - start > timeout_s:
                    return self._fail("timeout", None, start,
                                      f"wall-clock timeout after {timeout_s:g} s")
                if on_tick:
                    on_tick()
                time.sleep(POLL_S)
        except KeyboardInterrupt as exc:
            return self._fail("interrupted", None, start, stop_message(exc))

    def _failed(self, start: float) -> Outcome:
        """A federate exited with an error: the others leave on their own (its HELICS error
        ended their time requests); name the first that failed by its own error."""
        detected = time.time()
        self._let_exit(FAIL_GRACE_S)
        self.stop()
        culprit, error, wall = self.first_failure()
        code = self.procs[culprit].returncode
        message = f"{culprit} exited with code {code}" + (f": {error}" if error else "")
        return Outcome("failed", time.monotonic() - start, failed=culprit,
                       exit_codes=self.exit_codes(), message=message,
                       stop_s=time.time() - min(wall or detected, detected))

    def first_failure(self) -> tuple[str, str, float | None]:
        """(name, error, wall clock) of the federate whose own error came first; else of the
        earliest failure HELICS reported; else of the first non-zero exit code."""
        records = {n: failure_record(self.logs / f"{n}.log") for n in self.procs}
        found = [(not r.get("own", False), r.get("wall", 0.0), n, r.get("error", ""))
                 for n, r in records.items() if r]
        if found:
            _, wall, name, error = min(found)
            return name, error, wall
        failed = [n for n, p in self.procs.items() if p.returncode not in (None, 0)]
        return (failed or list(self.procs))[0], "", None

    def _wait_broker(self) -> None:
        try:
            self.procs["broker"].wait(timeout=KILL_AFTER_S)
        except subprocess.TimeoutExpired:
            self.stop()

    def _fail(self, status: str, failed: str | None, start: float, message: str) -> Outcome:
        cause = time.monotonic()
        self.stop()
        return Outcome(status, time.monotonic() - start, failed=failed,
                       exit_codes=self.exit_codes(), message=message,
                       stop_s=time.monotonic() - cause)

    def _let_exit(self, grace_s: float) -> None:
        deadline = time.monotonic() + grace_s
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                return

    def exit_codes(self) -> dict[str, int | None]:
        return {n: p.returncode for n, p in self.procs.items()}

    def stop(self) -> None:
        """SIGTERM every live child at once, SIGKILL what is left after KILL_AFTER_S.

        Further stop signals to the runner are ignored meanwhile (the stop is bounded)."""
        previous = {s: signal.signal(s, signal.SIG_IGN) for s in STOP_SIGNALS}
        try:
            live = [p for p in self.procs.values() if p.poll() is None]
            for proc in live:
                _signal_group(proc, signal.SIGTERM)
            deadline = time.monotonic() + KILL_AFTER_S
            for proc in live:
                try:
                    proc.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    _signal_group(proc, signal.SIGKILL)
                    proc.wait()
            for proc in self.procs.values():  # grandchildren of a group that exited cleanly
                _signal_group(proc, signal.SIGKILL)
            self._kill_stragglers()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _kill_stragglers(self) -> None:
        """Last line of defence: kill any process still tagged with this run's folder."""
        deadline = time.monotonic() + KILL_AFTER_S
        while (pids := run_processes(self.run_dir)) and time.monotonic() < deadline:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(POLL_S)


def stop_message(exc: BaseException) -> str:
    """Why a run was interrupted: the signal's name, or Ctrl-C."""
    if isinstance(exc, StopRequested) and exc.signum != signal.SIGINT:
        return f"stopped by {signal.Signals(exc.signum).name}"
    return "interrupted by the user (Ctrl-C)"


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def run_federation(plan: Plan, run_dir: Path, timeout_s: float,
                   on_tick: Callable[[], None] | None = None,
                   on_broker_ready: Callable[[], None] | None = None,
                   on_started: Callable[[], None] | None = None,
                   spawn: Spawn | None = None) -> Outcome:
    """Start broker and federates of a compiled plan and watch them to the end.

    `on_started` is called once every federate's core exists (its ports are bound);
    `spawn` starts a child instead of `subprocess.Popen` (a sweep forks warm children).
    """
    federation = Federation(plan, run_dir, spawn)
    start = time.monotonic()
    try:
        federation.start_broker()
        if on_broker_ready:
            on_broker_ready()
        federation.start_federates()
        federation.wait_created(min(start + timeout_s, time.monotonic() + BROKER_START_S * 3))
        if on_started:
            on_started()
    except KeyboardInterrupt as exc:
        cause = time.monotonic()
        federation.stop()
        return Outcome("interrupted", time.monotonic() - start, message=stop_message(exc),
                       exit_codes=federation.exit_codes(), stop_s=time.monotonic() - cause)
    except RuntimeError as exc:
        federation.stop()
        return Outcome("failed", time.monotonic() - start, failed="broker", message=str(exc),
                       exit_codes=federation.exit_codes())
    outcome = federation.watch(timeout_s, on_tick, start)  # the limit covers the start-up
    outcome.wall_time_s = time.monotonic() - start
    return outcome
