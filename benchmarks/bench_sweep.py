"""Sweep fast lane: 40 points of baseline_ieee123 at 1 h on 2 cores, against single runs.

Measures, all through the CLI as a user runs them:
- one `gridfed run baseline_ieee123 --set duration=1h` end to end (the cost a point had
  before sweeps),
- the 40-point sweep with `--jobs 2` (warm workers, forked federates, metrics only), its
  median per-point phases (load, port lock, compile, federation, finalize) and how many
  points hit a HELICS disconnect stall (a federation over 10 s),
- the same points with exec'd federates (`GRIDFED_SWEEP_FORK=0`, 10 points),
- the Dask path: 10 points through a loopback `dask scheduler` and two 1-thread workers,
  against the same 10 points locally,
- that a sweep point's metrics equal those of a single `gridfed run` with its `--set` items.

Goal: the 40 points in <= 40 s wall (<= 1 s per point amortised). `python
benchmarks/bench_sweep.py` prints the numbers and writes the `sweep` section of
docs/benchmarks.md.
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

import yaml

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "benchmarks.md"
SCALES = [0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5]
GOAL = "a 40-point sweep of baseline_ieee123 at 1 h on 2 cores in <= 40 s wall"


def _gridfed(*args: str, env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "runner", *args], cwd=REPO, check=True,
                   capture_output=True, env={**os.environ, **(env or {})})
    return time.perf_counter() - start


def _sweep_file(folder: Path, scales: list[float], replicates: int) -> Path:
    path = folder / f"bench_{len(scales)}x{replicates}.yaml"
    path.write_text(yaml.safe_dump({
        "name": "bench_sweep", "scenario": "baseline_ieee123", "seed": 1,
        "set": {"duration": "1h"},
        "parameters": {"grid": {"grid.baseline.scale": scales}, "replicates": replicates}}))
    return path


def _rows(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(out.glob("points/*/point.json"))]


def _phases(rows: list[dict]) -> dict[str, float]:
    names = rows[0]["phases"].keys()
    return {f"median_{n}": statistics.median(r["phases"][n] for r in rows) for n in names}


def _metrics(run_dir: Path) -> dict:
    feds = json.loads((run_dir / "metrics.json").read_text())["federates"]
    for fed in feds.values():
        fed.pop("plots", None)
    return feds


def _dask(sweep: Path, out: Path) -> float:
    """Wall time of the sweep through a loopback scheduler and two 1-thread workers."""
    from distributed import Client

    from runner.launch import free_port

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "cwd": REPO}
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler",
                               "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              **quiet)]
    try:
        procs += [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker",
                                    address, "--host", "127.0.0.1", "--nthreads", "1",
                                    "--no-nanny", "--no-dashboard"], **quiet)
                  for _ in range(2)]
        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        return _gridfed("sweep", str(sweep), "--out", str(out), "--scheduler", address)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait()


def run() -> dict[str, float]:
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        results["single_run_end_to_end_s"] = _gridfed(
            "run", "baseline_ieee123", "--set", "duration=1h", "--out", str(tmp_path / "one"))
        forty = _sweep_file(tmp_path, SCALES, 4)
        out = tmp_path / "forty"
        results["sweep40_jobs2_wall_s"] = _gridfed("sweep", str(forty), "--out", str(out),
                                                   "--jobs", "2")
        rows = _rows(out)
        results["sweep40_per_point_amortised_s"] = results["sweep40_jobs2_wall_s"] / 40
        results["sweep40_points_ok"] = sum(r["status"] == "ok" for r in rows)
        results["sweep40_points_with_stall_over_10s"] = sum(
            r["phases"]["federation_s"] > 10 for r in rows)
        results.update({f"sweep40_{k}": v for k, v in _phases(rows).items()})
        point = rows[4]  # scale 0.7, replicate 0
        sets = [a for item in point["overrides"] for a in ("--set", item)]
        _gridfed("run", "baseline_ieee123", "--out", str(tmp_path / "single"), *sets)
        results["point_metrics_equal_single_run"] = float(
            _metrics(tmp_path / "single") == _metrics(out / "points" / point["id"]))
        ten = _sweep_file(tmp_path, SCALES, 1)
        results["sweep10_fork_wall_s"] = _gridfed("sweep", str(ten), "--out",
                                                  str(tmp_path / "fork10"), "--jobs", "2")
        results["sweep10_exec_wall_s"] = _gridfed("sweep", str(ten), "--out",
                                                  str(tmp_path / "exec10"), "--jobs", "2",
                                                  env={"GRIDFED_SWEEP_FORK": "0"})
        exec_rows = _rows(tmp_path / "exec10")
        results.update({f"sweep10_exec_{k}": v for k, v in _phases(exec_rows).items()})
        results["sweep10_dask_2workers_wall_s"] = _dask(ten, tmp_path / "dask10")
        results["dask_overhead_per_point_s"] = (results["sweep10_dask_2workers_wall_s"]
                                                - results["sweep10_fork_wall_s"]) / 10
    results["load_average_1min"] = os.getloadavg()[0]
    return results


def write_section(results: dict[str, float]) -> None:
    """Replace (or append) the `## sweep` section of docs/benchmarks.md."""
    lines = ["## sweep", "", f"Goal: {GOAL}.", "",
             f"Measured {time.strftime('%Y-%m-%d')} with `python benchmarks/bench_sweep.py` "
             "(the machine's 1-minute load average at the end is in the table: other work "
             "on the same 2 cores slows every number).", "",
             "| measure | value |", "|---|---|"]
    lines += [f"| {k} | {v:.4g} |" for k, v in results.items()] + [""]
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    head, sep, rest = text.partition("\n## sweep\n")
    if sep:
        following = rest.find("\n## ")
        rest = rest[following + 1:] if following >= 0 else ""
        text = head.rstrip("\n") + "\n\n" + "\n".join(lines) + ("\n" + rest if rest else "")
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(lines)
    DOC.write_text(text.rstrip("\n") + "\n")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    numbers = run()
    for key, value in numbers.items():
        print(f"{key:44s} {value:10.3f}")
    write_section(numbers)
    print(f"wrote {DOC}")
