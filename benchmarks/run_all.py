"""Run every benchmark module and write docs/benchmarks.md.

A benchmark module `benchmarks/bench_*.py` exposes `run()` (or `main()`) returning a dict of
numbers (possibly nested one level). Usage: `python benchmarks/run_all.py [name ...]`.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DOC = REPO / "docs" / "benchmarks.md"
GOALS = {
    "baseline": "baseline_ieee123 (24 h at 1 min) end to end under 15 s on 2 cores",
    "iot": "100k devices under 50 ms per step",
    "lindist3flow": "max node-voltage error of the linear model against OpenDSS <= 0.005 pu "
                    "over 100 seeded load/PV scenarios (loads x U(0.5, 1.5), PV on 30% of "
                    "loaded node-phases)",
    "market": "warm primary re-solve on ieee123 under 50 ms; market_ieee123 under 30 s",
    "scenarios": "market_ieee123 under 30 s; attack_2b with --counterfactual under 60 s",
}


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(REPO))
    spec.loader.exec_module(module)
    return module


def _flatten(results: dict, prefix: str = "") -> list[tuple[str, object]]:
    rows: list[tuple[str, object]] = []
    for key, value in results.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows += _flatten(value, f"{name}.")
        else:
            rows.append((name, value))
    return rows


def _fmt(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _sections(text: str) -> dict[str, list[str]]:
    """'## name' sections of an existing benchmarks document (name -> its lines)."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("## "):
            current = sections.setdefault(line[3:].strip(), [])
        if current is not None:
            current.append(line)
    return sections


def main(names: list[str]) -> None:
    paths = sorted(HERE.glob("bench_*.py"))
    if names:
        paths = [p for p in paths if p.stem.removeprefix("bench_") in names]
    cpu = platform.processor() or platform.machine()
    header = ["# Benchmarks", "",
              f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores ({cpu}), "
              f"Python {platform.python_version()}. Regenerate with `make bench` (or "
              "`python benchmarks/run_all.py NAME ...` for some; the others are kept).", ""]
    sections = _sections(DOC.read_text()) if DOC.exists() else {}
    for path in paths:
        name = path.stem.removeprefix("bench_")
        module = _load(path)
        entry = getattr(module, "run", None) or module.main
        print(f"== {name}", flush=True)
        results = entry()
        lines = [f"## {name}", ""]
        if name in GOALS:
            lines += [f"Goal: {GOALS[name]}.", ""]
        lines += [f"Measured {time.strftime('%Y-%m-%d')}.", "", "| measure | value |", "|---|---|"]
        for key, value in _flatten(results):
            print(f"  {key:48s} {_fmt(value)}", flush=True)
            lines.append(f"| {key} | {_fmt(value)} |")
        lines.append("")
        sections[name] = lines
    DOC.parent.mkdir(exist_ok=True)
    body = [line for name in sorted(sections) for line in sections[name]]
    DOC.write_text("\n".join(header + body).rstrip("\n") + "\n")
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main(sys.argv[1:])
