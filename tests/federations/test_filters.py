"""HELICS filters through a real broker: the attacker really drops or delays messages.

Three processes join a broker of their own: a sender sends one message per step to a
receiver's endpoint 'recv/in'; the real attacker federate switches a drop (or delay) filter
on that endpoint between t1 and t2. The toy sender/receiver federates live in this file,
which doubles as their child-process entry point (`python tests/federations/test_filters.py CFG`).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

from pydantic import BaseModel

from federates.runtime import (
    PHASES,
    Endpoint,
    FederateWrapper,
    Interfaces,
    RuntimeConfig,
    StepIO,
    run,
)

ROOT = Path(__file__).resolve().parents[2]
PERIOD, STOP = 10.0, 100.0
T1, T2 = 30.0, 60.0


class SenderConfig(BaseModel):
    destination: str


class Sender(FederateWrapper):
    kind = "test_sender"
    config_model = SenderConfig

    @classmethod
    def interfaces(cls, runtime, config) -> Interfaces:
        return Interfaces(endpoints=[Endpoint(port="out")])

    def on_step(self, io: StepIO) -> None:
        io.send("out", self.config.destination, json.dumps({"sent": io.time}))


class ReceiverConfig(BaseModel):
    output: str


class Receiver(FederateWrapper):
    kind = "test_receiver"
    config_model = ReceiverConfig

    @classmethod
    def interfaces(cls, runtime, config) -> Interfaces:
        return Interfaces(endpoints=[Endpoint(port="in")])

    def on_start(self, io: StepIO) -> None:
        self.got: list[tuple[float, float]] = []

    def on_step(self, io: StepIO) -> None:
        self.got += [(io.time, json.loads(raw)["sent"]) for _, raw in io.messages("in")]

    def on_stop(self, io: StepIO, completed: bool) -> None:
        Path(self.config.output).write_text(json.dumps(self.got))


TOYS = {"sender": Sender, "receiver": Receiver}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children() -> set[int]:
    out: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        text = (task / "children").read_text().split()
        out.update(int(p) for p in text)
    return out


def _runtime(name: str, phase: str, port: int, key: str) -> dict:
    return RuntimeConfig(name=name, broker_port=port, broker_key=key, period=PERIOD,
                         phase=PHASES[phase], stop_time=STOP).model_dump()


def run_federation(tmp_path: Path, attack: dict) -> list[tuple[float, float]]:
    """Broker + sender + receiver + attacker; returns the receiver's (time, sent) pairs."""
    port, key = _free_port(), uuid.uuid4().hex[:12]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    output = tmp_path / "received.json"
    specs = {
        "send": ("sender", "devices", {"destination": "recv/in"}),
        "recv": ("receiver", "recorder", {"output": str(output)}),
        "attacker": ("attacker", "attacker", {
            "attacks": [attack], "bus_endpoints": ["recv/{bus}"], "attack_endpoint": None}),
    }
    before = _children()
    procs: list[subprocess.Popen] = []
    try:
        broker = subprocess.Popen(
            [sys.executable, "-m", "runner.broker", "--port", str(port), "--key", key,
             "--name", f"b{key}", "--federates", str(len(specs))],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(broker)
        assert "ready" in broker.stdout.readline()
        for name, (kind, phase, config) in specs.items():
            path = tmp_path / f"{name}.json"
            path.write_text(json.dumps({"kind": kind, "runtime": _runtime(name, phase, port, key),
                                        "config": config}))
            if kind in TOYS:
                cmd = [sys.executable, str(Path(__file__)), str(path)]
            else:
                cmd = [sys.executable, "-m", "federates", str(path)]
            procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True))
        for p in procs[1:] + procs[:1]:
            _, err = p.communicate(timeout=60)
            assert p.returncode == 0, err[-2000:]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert _children() - before == set(), "child processes left behind"
    return [tuple(x) for x in json.loads(output.read_text())]


def _steps() -> list[float]:
    return [k * PERIOD for k in range(int(STOP / PERIOD) + 1)]


def test_drop_filter_cuts_the_link_only_while_the_attack_lasts(tmp_path):
    attack = {"id": "cut", "start": T1, "end": T2, "type": "DG", "scale_kw": 0,
              "targets": {"buses": ["in"]}, "comm_cut": True}
    got = run_federation(tmp_path, attack)
    assert [s for _, s in got] == [t for t in _steps() if not T1 <= t < T2]
    # every message that gets through arrives in the step it was sent
    assert all(r == s for r, s in got)


def test_delay_filter_delays_by_the_set_amount(tmp_path):
    delay = 2 * PERIOD
    attack = {"id": "late", "start": T1, "end": T2, "type": "DG", "scale_kw": 0,
              "targets": {"buses": ["in"]}, "comm_delay_s": delay}
    got = run_federation(tmp_path, attack)
    lag = {s: r - s for r, s in got}
    assert lag == {t: delay if T1 <= t < T2 else 0.0 for t in _steps()}


def _child(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    cls = TOYS[spec["kind"]]
    return run(cls(RuntimeConfig.model_validate(spec["runtime"]),
                   cls.config_model.model_validate(spec["config"])))


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
