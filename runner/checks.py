"""Checks of a run request's command-line values, made before anything is created or started.

The scenario's own fields are checked by `runner.schema` and each kind's `check` (called by
`runner.compile`); here: --timeout, --broker-port and the broker's exposure to the network.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from runner.schema import PORT_MAX, PORT_MIN, Scenario, ScenarioError, is_loopback

if TYPE_CHECKING:
    from runner.session import RunRequest


def check_request(request: RunRequest) -> None:
    """Refuse command-line values no run can use (exit 2 via ScenarioError)."""
    if request.timeout is not None and not (math.isfinite(request.timeout)
                                            and request.timeout > 0):
        raise ScenarioError(f"--timeout {request.timeout:g}: expected a positive, finite "
                            "number of seconds")
    port = request.broker_port
    if port is not None and not PORT_MIN <= port <= PORT_MAX:
        raise ScenarioError(f"--broker-port {port}: expected a port in {PORT_MIN}..{PORT_MAX} "
                            f"(ports below {PORT_MIN} need root)")


def resolve_broker(scenario: Scenario, request: RunRequest, console: Console) -> None:
    """Apply --broker-port and --allow-remote-broker; refuse a broker exposed to the network
    unless the user opted in, and warn with the address when they did."""
    broker = scenario.broker
    if request.broker_port is not None:
        if broker.core_type == "zmq" and request.broker_port == PORT_MAX:
            raise ScenarioError(f"--broker-port {PORT_MAX}: the zmq core also binds the next "
                                f"port; expected at most {PORT_MAX - 1}")
        broker.port = request.broker_port
    if is_loopback(broker.host):
        return
    if not (broker.allow_remote or request.allow_remote_broker):
        raise ScenarioError(
            f"{scenario.name}: broker.host: {broker.host!r} is not a loopback address, so the "
            "broker would accept connections from the network; set broker.allow_remote: true "
            "or pass --allow-remote-broker to allow it")
    console.print(f"[bold yellow]warning:[/] the broker listens on {escape(broker.host)} "
                  "(reachable from the network, protected only by the run's broker key)")
