"""Where a run's wall time went: the chain of federate steps that held up the time loop.

Run a scenario with GRIDFED_TRACE=1 (every federate then writes `logs/<name>.trace.json`:
per step its HELICS time and the wall clock of its time request, grant and end), then

    python benchmarks/critical_path.py RESULTS_DIR

walks back from the last step: each grant waited for the federate whose request released
that time last, among those it waits for: with distributed time negotiation (the default)
itself, the owners of what it subscribes to and, if it has endpoints, every federate with
endpoints (any of them may message it); with the broker's global grants, every federate.
The chain splits the loop's wall time into each federate's own steps and the HELICS
hand-offs between them (request -> grant).
"""

from __future__ import annotations

import bisect
import json
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Trace:
    name: str
    waits_for: set[str]  # federates whose time requests gate this one's grants
    target: list[float]  # HELICS time of each step
    request: list[float]  # wall clock of the time request
    start: list[float]  # of the grant
    end: list[float]  # of the end of the step


def load(run_dir: Path) -> dict[str, Trace]:
    plan = json.loads((run_dir / "launch_plan.json").read_text())
    waits = dependencies(plan)
    traces = {}
    for path in sorted((run_dir / "logs").glob("*.trace.json")):
        name = path.name.removesuffix(".trace.json")
        rows = json.loads(path.read_text())
        if rows:
            target, request, start, end = (list(col) for col in zip(*rows, strict=True))
            traces[name] = Trace(name, waits[name], target, request, start, end)
    if not traces:
        raise SystemExit(f"{run_dir}: no logs/*.trace.json (run with GRIDFED_TRACE=1)")
    return traces


def dependencies(plan: dict) -> dict[str, set[str]]:
    """Which federates' time requests gate each federate's grants, from the launch plan."""
    feds = plan["federates"]
    names = {f["name"] for f in feds}
    if plan["broker"].get("time_coordination") == "global":
        return {name: set(names) for name in names}
    owner = {pub: f["name"] for f in feds for pub in f["publications"]}
    messaging = {f["name"] for f in feds if f["endpoints"]}
    return {f["name"]: {f["name"]} | {owner[s] for s in f["subscriptions"] if s in owner}
            | (messaging if f["endpoints"] else set()) for f in feds}


def release(trace: Trace, time: float) -> tuple[float, int]:
    """When `trace`'s federate let the federation pass `time`: the wall clock of its first
    request beyond `time` (or of the end of its last step, after which it leaves), and the
    step it had just finished (-1: none)."""
    j = bisect.bisect_left(trace.target, time - 1e-9)
    if j >= len(trace.target):
        return trace.end[-1], len(trace.target) - 1
    return trace.request[j], j - 1


def critical_path(traces: dict[str, Trace]) -> dict[str, float]:
    """Seconds of the chain spent in each federate's steps and in hand-offs."""
    totals = {name: 0.0 for name in traces} | {"hand-offs": 0.0}
    name = max(traces, key=lambda n: traces[n].end[-1])
    step = len(traces[name].end) - 1
    first = min(t.start[0] for t in traces.values())
    while step >= 0:
        trace = traces[name]
        totals[name] += trace.end[step] - trace.start[step]
        grant = trace.start[step]
        if grant <= first:
            break
        releases = [(r, n) for n, t in traces.items() if n in trace.waits_for
                    and (r := release(t, trace.target[step]))[0] <= grant]
        if not releases:
            break
        (released, previous), blocker = max(releases)
        totals["hand-offs"] += grant - released
        name, step = blocker, previous
    return totals


def summary(run_dir: Path) -> str:
    traces = load(run_dir)
    chain = critical_path(traces)
    loop = max(t.end[-1] for t in traces.values()) - min(t.start[0] for t in traces.values())
    lines = [f"time loop: {loop:.2f} s wall; its critical chain:",
             f"{'':12s} {'on chain [s]':>12s} {'own steps [s]':>14s} {'steps':>6s}"]
    for name in sorted(traces, key=lambda n: -chain.get(n, 0.0)) + ["hand-offs"]:
        seconds, trace = chain.get(name, 0.0), traces.get(name)
        own = sum(e - s for s, e in zip(trace.start, trace.end, strict=True)) if trace else 0.0
        steps = len(trace.end) if trace else 0
        lines.append(f"{name:12s} {seconds:12.2f} {own:14.2f} {steps:6d}")
    lines.append(f"{'chain total':12s} {sum(chain.values()):12.2f}")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python benchmarks/critical_path.py RESULTS_DIR")
    print(summary(Path(sys.argv[1])))
