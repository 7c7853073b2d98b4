"""Where a run's wall time went: the chain of federate steps that held up the time loop.

Run a scenario with GRIDFED_TRACE=1 (every federate then writes `logs/<name>.trace.json`:
per step its HELICS time and the wall clock of its time request, grant and end), then

    python benchmarks/critical_path.py RESULTS_DIR

walks back from the last step: each grant waited for the federate whose request released
that time last (a federate with a HELICS output delay releases it that much earlier). The
chain splits the loop's wall time into each federate's own steps and the HELICS hand-offs
between them (request -> broker -> grant). It assumes the broker's global time grants
(`broker.time_coordination: global`, the default with a market); with distributed
negotiation a federate only waits for those it subscribes to, and the chain over-counts.
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
    output_delay: float
    target: list[float]  # HELICS time of each step
    request: list[float]  # wall clock of the time request
    start: list[float]  # of the grant
    end: list[float]  # of the end of the step


def load(run_dir: Path) -> dict[str, Trace]:
    traces = {}
    for path in sorted((run_dir / "logs").glob("*.trace.json")):
        name = path.name.removesuffix(".trace.json")
        runtime = json.loads((run_dir / "configs" / f"{name}.json").read_text())["runtime"]
        rows = json.loads(path.read_text())
        if rows:
            target, request, start, end = (list(col) for col in zip(*rows, strict=True))
            traces[name] = Trace(name, runtime.get("output_delay", 0.0), target, request,
                                 start, end)
    if not traces:
        raise SystemExit(f"{run_dir}: no logs/*.trace.json (run with GRIDFED_TRACE=1)")
    return traces


def release(trace: Trace, time: float) -> tuple[float, int]:
    """When `trace`'s federate let the federation pass `time`: the wall clock of its first
    request beyond `time - output_delay` (or of the end of its last step, after which it
    leaves), and the step it had just finished (-1: none)."""
    j = bisect.bisect_left(trace.target, time - trace.output_delay - 1e-9)
    if j >= len(trace.target):
        return trace.end[-1], len(trace.target) - 1
    return trace.request[j], j - 1


def critical_path(all_traces: dict[str, Trace]) -> dict[str, float]:
    """Seconds of the chain spent in each federate's steps and in hand-offs.

    Federates with an output delay (the recorder) hold nobody up by construction and may
    trail the others, so the chain runs through the rest: it ends where they end."""
    traces = {n: t for n, t in all_traces.items() if t.output_delay == 0} or all_traces
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
        releases = [(r, n) for n, t in traces.items()
                    if (r := release(t, trace.target[step]))[0] <= grant]
        if not releases:
            break
        (released, previous), blocker = max(releases)
        totals["hand-offs"] += grant - released
        name, step = blocker, previous
    return totals


def summary(run_dir: Path) -> str:
    traces = load(run_dir)
    chain = critical_path(traces)
    chained = [t for n, t in traces.items() if n in chain]
    loop = max(t.end[-1] for t in chained) - min(t.start[0] for t in chained)
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
