"""baseline_ieee123 end to end vs the same 1,440 solves in a plain in-process loop.

Prints the numbers and returns them; `benchmarks/run_all.py` writes docs/benchmarks.md.
Goal: the whole co-simulation (broker, player, grid, recorder, results) under 15 s on 2 cores.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def end_to_end(scenario: str = "baseline_ieee123", *options: str) -> dict[str, float]:
    """Wall time of `gridfed run SCENARIO OPTIONS` (whole command) and of its federation."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "runner", "run", scenario, "--out", str(out),
                        *options], cwd=REPO, check=True, capture_output=True)
        wall = time.perf_counter() - start
        metrics = json.loads((out / "metrics.json").read_text())
    return {"end_to_end_s": wall, "federation_s": metrics["wall_time_s"]}


def in_process_loop() -> dict[str, float]:
    """The grid model of the scenario stepped 1,440 times with the player's injections."""
    import opendssdirect as dss
    import yaml

    from federates.common.profiles import profile_values
    from federates.grid.config import GridConfig
    from federates.grid.federate import build_model
    from federates.player.config import PlayerConfig
    from federates.player.model import PlayerModel

    spec = yaml.safe_load((REPO / "scenarios" / "baseline_ieee123.yaml").read_text())
    grid_cfg = GridConfig.model_validate({**spec["federates"]["grid"]["config"],
                                          "feeder": spec["feeder"]})
    player = PlayerModel(PlayerConfig.model_validate(spec["federates"]["pv"]["config"]))
    model = build_model(grid_cfg)
    times = [60.0 * k for k in range(1441)]
    start = time.perf_counter()
    for t in times:
        mult = float(profile_values(grid_cfg.baseline.shape, t)[0]) * grid_cfg.baseline.scale
        model.step(t, mult, {"pv": player.injections(t)})
    model_loop = time.perf_counter() - start
    start = time.perf_counter()
    for t in times:  # bare OpenDSS: load multiplier and solve only
        dss.Solution.LoadMult(float(profile_values("residential", t)[0]))
        dss.Solution.Solve()
    bare = time.perf_counter() - start
    return {"in_process_model_loop_s": model_loop, "bare_opendss_loop_s": bare}


def run() -> dict[str, float]:
    results = {**end_to_end(), **in_process_loop()}
    results["cosim_overhead_ratio"] = results["federation_s"] / results["in_process_model_loop_s"]
    return results


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key:28s} {value:10.3f}")
