"""End-to-end wall time of the shipped scenarios that carry a speed goal.

houses_ieee123 (24 h, 1,008 houses), market_ieee123 (24 h, market on; goal < 30 s) and
attack_2b with --counterfactual (three runs; goal < 60 s), each through `gridfed run`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_baseline import end_to_end  # noqa: E402

CASES = {
    "houses_ieee123": ("houses_ieee123",),
    "market_ieee123": ("market_ieee123",),
    "attack_2b_counterfactual": ("attack_2b", "--counterfactual"),
}


def run() -> dict[str, dict[str, float]]:
    results = {}
    for label, (scenario, *options) in CASES.items():
        results[label] = end_to_end(scenario, *options)
        print(label, results[label], flush=True)
    return results


if __name__ == "__main__":
    run()
