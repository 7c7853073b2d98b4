"""Start a run's broker and federates as child processes and watch them.

One failing federate, a wall-clock timeout or Ctrl-C stops the whole federation: every
child runs in its own process group and receives SIGTERM, then SIGKILL; children also
die with the runner (PR_SET_PDEATHSIG). Nothing survives the run, and the broker's port
is free again when `run_federation` returns.
"""

from __future__ import annotations

import fcntl
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

from federates.runtime import CREATED, EXIT_FAILED
from runner.broker import READY

if TYPE_CHECKING:  # annotations only: compile uses this module's free_port
    from runner.compile import Plan

POLL_S = 0.05
TERM_GRACE_S = 5.0
BROKER_START_S = 20.0
# (args after `python`, log file, environment) -> a started child with Popen's poll/wait/pid
Spawn = Callable[[list[str], IO[bytes], dict[str, str]], Any]


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

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class PortLock:
    """Machine-wide lock held from choosing ports until every core of the run has bound its
    port, so two gridfed runs started together never pick the same free port."""

    def __init__(self) -> None:
        self._file = None

    def acquire(self) -> None:
        path = Path(tempfile.gettempdir()) / "gridfed-ports.lock"
        self._file = open(path, "a")  # noqa: SIM115 - held until release()
        fcntl.flock(self._file, fcntl.LOCK_EX)

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def run_processes(run_dir: Path) -> list[int]:
    """Pids of live processes tagged with this run (GRIDFED_RUN_DIR), from /proc."""
    tag = f"GRIDFED_RUN_DIR={run_dir}".encode()
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
                   GRIDFED_RUN_DIR=str(self.run_dir))
        # Ctrl-C / SIGTERM wait until the child is registered, so none escapes stop().
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
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

    def wait_created(self, timeout_s: float = BROKER_START_S * 3) -> None:
        """Wait until every federate's core exists (its port is bound) or one has exited."""
        deadline = time.monotonic() + timeout_s
        pending = {f.name for f in self.plan.federates}
        while pending and time.monotonic() < deadline:
            for name in list(pending):
                log = self.logs / f"{name}.log"
                if self.procs[name].poll() is not None or (
                        log.exists() and CREATED in log.read_text(errors="replace")):
                    pending.discard(name)
            if pending:
                time.sleep(POLL_S)

    def watch(self, timeout_s: float, on_tick: Callable[[], None] | None = None) -> Outcome:
        start = time.monotonic()
        names = [f.name for f in self.plan.federates]
        try:
            while True:
                codes = {n: self.procs[n].poll() for n in names}
                failed = [n for n, c in codes.items() if c not in (None, 0)]
                broker_code = self.procs["broker"].poll()
                if failed:
                    # collateral exits (3) can come first: let everyone leave, then blame
                    self._let_exit(TERM_GRACE_S)
                    codes = {n: self.procs[n].poll() for n in names}
                    culprit = next((n for n in names if codes[n] == EXIT_FAILED), failed[0])
                    return self._fail("failed", culprit, start, f"{culprit} exited with "
                                      f"code {codes[culprit]}")
                if all(c == 0 for c in codes.values()):
                    self._wait_broker(start)
                    return Outcome("ok", time.monotonic() - start, exit_codes=self.exit_codes())
                if broker_code not in (None, 0):
                    return self._fail("failed", "broker", start,
                                      f"broker exited with code {broker_code}")
                if time.monotonic() - start > timeout_s:
                    return self._fail("timeout", None, start,
                                      f"wall-clock timeout after {timeout_s:.0f} s")
                if on_tick:
                    on_tick()
                time.sleep(POLL_S)
        except KeyboardInterrupt:
            return self._fail("interrupted", None, start, "interrupted by the user")

    def _wait_broker(self, start: float) -> None:
        try:
            self.procs["broker"].wait(timeout=TERM_GRACE_S)
        except subprocess.TimeoutExpired:
            self.stop()

    def _fail(self, status: str, failed: str | None, start: float, message: str) -> Outcome:
        if status == "failed":
            self._let_exit(TERM_GRACE_S)
        self.stop()
        return Outcome(status, time.monotonic() - start, failed=failed,
                       exit_codes=self.exit_codes(), message=message)

    def _let_exit(self, grace_s: float) -> None:
        """A failing federate raised a HELICS global error: the others leave on their own
        (and flush what they hold) unless they are stuck; wait for that a little."""
        deadline = time.monotonic() + grace_s
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                return

    def exit_codes(self) -> dict[str, int | None]:
        return {n: p.returncode for n, p in self.procs.items()}

    def stop(self) -> None:
        """SIGTERM every live child's process group, then SIGKILL what is left."""
        live = [p for p in self.procs.values() if p.poll() is None]
        for proc in live:
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + TERM_GRACE_S
        for proc in live:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
        for proc in self.procs.values():  # grandchildren of a group that exited cleanly
            _signal_group(proc, signal.SIGKILL)
        self._kill_stragglers()

    def _kill_stragglers(self) -> None:
        """Last line of defence: kill any process still tagged with this run's folder."""
        deadline = time.monotonic() + TERM_GRACE_S
        while (pids := run_processes(self.run_dir)) and time.monotonic() < deadline:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(POLL_S)


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
        federation.wait_created()
        if on_started:
            on_started()
    except KeyboardInterrupt:
        federation.stop()
        return Outcome("interrupted", time.monotonic() - start, message="interrupted")
    except RuntimeError as exc:
        federation.stop()
        return Outcome("failed", time.monotonic() - start, failed="broker", message=str(exc),
                       exit_codes=federation.exit_codes())
    outcome = federation.watch(timeout_s, on_tick)
    outcome.wall_time_s = time.monotonic() - start
    return outcome
