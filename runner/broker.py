"""Child-process entry point of a run's HELICS broker (same interpreter as the federates).

Prints 'gridfed-broker ready' once listening, then lives until every federate has left.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading

from federates.process import (
    EXIT_STOPPED,
    die_with_parent,
    handle_stop_signals,
    on_stop_signal,
)

READY = "gridfed-broker ready"
ERROR_SEND_S = 0.3


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m runner.broker")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--key", default="")
    parser.add_argument("--name", required=True)
    parser.add_argument("--federates", type=int, required=True)
    parser.add_argument("--core-type", default="zmq")
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--time-coordination", choices=("global", "distributed"),
                        default="distributed")
    args = parser.parse_args(argv)
    die_with_parent()
    handle_stop_signals()
    from federates.runtime import BrokerHandle, broker_init

    init = broker_init(args.host, args.port, args.key, args.name, args.federates, args.log_level,
                       global_time=args.time_coordination == "global")
    try:
        broker = BrokerHandle(args.core_type, init)
    except Exception as exc:  # noqa: BLE001 - report any start-up failure to the runner
        print(f"broker failed to start on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 3
    if not broker.connected():
        print(f"broker not listening on {args.host}:{args.port}", file=sys.stderr)
        return 3

    def stop(signum: int) -> None:
        """End the federation with an error (external federates included), then exit: a
        graceful disconnect would wait for federates that may never come, and
        helicsBrokerWaitForDisconnect ignores its timeout once the broker is in error."""
        broker.abort(f"run stopped (signal {signum})")
        threading.Event().wait(ERROR_SEND_S)  # HELICS sends the error on its own threads
        print(f"broker stopped (signal {signum})", flush=True)
        os._exit(EXIT_STOPPED)

    on_stop_signal(stop)
    print(READY, flush=True)
    try:
        while not broker.wait(500):
            pass
    except KeyboardInterrupt:  # the stop callback ends the process
        threading.Event().wait()
    broker.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
