"""End-to-end wall time of the shipped scenarios that carry a speed goal.

houses_ieee123 (24 h, 1,008 houses), market_ieee123 (24 h, market on; goal < 30 s; five runs,
and the critical chain of a sixth, traced one) and attack_2b with --counterfactual (three
runs; goal < 60 s), each through `gridfed run`.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_baseline import REPO, end_to_end  # noqa: E402
from benchmarks.critical_path import critical_path, load  # noqa: E402

MARKET_RUNS = 5


def market_runs() -> dict[str, float]:
    walls = [end_to_end("market_ieee123")["end_to_end_s"] for _ in range(MARKET_RUNS)]
    out = {f"end_to_end_s_run{k + 1}": w for k, w in enumerate(walls)}
    out |= {"end_to_end_s_median": statistics.median(walls), "end_to_end_s_max": max(walls)}
    return out


def market_chain() -> dict[str, float]:
    """Seconds of a traced market_ieee123 run's critical chain, by federate and hand-offs."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "runner", "run", "market_ieee123", "--out",
                        str(out)], cwd=REPO, check=True, capture_output=True,
                       env={**os.environ, "GRIDFED_TRACE": "1"})
        wall = time.perf_counter() - start
        traces = load(out)
        loop = max(t.end[-1] for t in traces.values()) - min(t.start[0] for t in traces.values())
        federation = json.loads((out / "metrics.json").read_text())["wall_time_s"]
        chain = critical_path(traces)
    return {"end_to_end_s": wall, "federation_s": federation, "time_loop_s": loop,
            **{f"chain_{name}_s": seconds for name, seconds in chain.items()}}


def run() -> dict[str, dict[str, float]]:
    results = {"houses_ieee123": end_to_end("houses_ieee123")}
    print("houses_ieee123", results["houses_ieee123"], flush=True)
    results["market_ieee123"] = market_runs()
    print("market_ieee123", results["market_ieee123"], flush=True)
    results["market_ieee123_traced"] = market_chain()
    print("market_ieee123_traced", results["market_ieee123_traced"], flush=True)
    results["attack_2b_counterfactual"] = end_to_end("attack_2b", "--counterfactual")
    print("attack_2b_counterfactual", results["attack_2b_counterfactual"], flush=True)
    return results


if __name__ == "__main__":
    run()
