"""Mutation testing of the core pure models with mutmut: `make mutation`.

Copies the tracked files into a scratch folder (mutmut writes its `mutants/` tree and
state next to the code), runs `mutmut run` with the modules and tests named in
pyproject.toml's [tool.mutmut], and writes docs/mutation.md: the score per module
(killed / mutants; a mutant no test reaches counts as survived) and every survivor's diff,
so each can be killed by a test or argued equivalent. Not part of `make test`: a full run
takes tens of minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "mutation.md"
MUTMUT = [sys.executable, "-m", "mutmut"]
LINE = re.compile(r"^\s*(\S+__mutmut_\d+): (.+)$")


def module_of(mutant: str) -> str:
    """'federates.iot.thermal.x_split_gains__mutmut_3' -> 'federates.iot.thermal'."""
    parts = mutant.split(".")
    for i, part in enumerate(parts):
        if part.startswith(("x_", "xǁ")):
            return ".".join(parts[:i])
    return ".".join(parts[:-1])


def copy_tracked(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        src, dst = REPO / name, dest / name
        if src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(src.read_bytes())


def run(max_children: int) -> tuple[dict[str, Counter], dict[str, list[str]], float]:
    with tempfile.TemporaryDirectory(prefix="gridfed-mutation-") as tmp:
        work = Path(tmp)
        copy_tracked(work)
        started = time.perf_counter()
        subprocess.run([*MUTMUT, "run", "--max-children", str(max_children)], cwd=work,
                       check=False, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - started
        listing = subprocess.run([*MUTMUT, "results", "--all", "true"], cwd=work,
                                 capture_output=True, text=True, check=True).stdout
        counts: dict[str, Counter] = defaultdict(Counter)
        survivors: dict[str, list[str]] = defaultdict(list)
        for line in listing.splitlines():
            match = LINE.match(line)
            if not match:
                continue
            name, status = match.groups()
            module = module_of(name)
            counts[module][status] += 1
            if status in ("survived", "no tests"):
                diff = subprocess.run([*MUTMUT, "show", name], cwd=work, capture_output=True,
                                      text=True).stdout
                changed = [d for d in diff.splitlines() if d[:2] in ("- ", "+ ")]
                survivors[module].append(f"{name.split('.')[-1]} ({status}): "
                                         + " → ".join(c[2:].strip() for c in changed[:2]))
    return counts, survivors, wall


STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests",
          34: "skipped", 36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout",
          255: "timeout", None: "not checked"}


def from_state(work: Path) -> tuple[dict[str, Counter], dict[str, list[str]]]:
    """Counts and survivors from the state mutmut keeps in `work/mutants` (`*.meta`), for a
    run that was stopped before the end (`--from DIR`)."""
    counts: dict[str, Counter] = defaultdict(Counter)
    survivors: dict[str, list[str]] = defaultdict(list)
    for meta in sorted((work / "mutants").rglob("*.py.meta")):
        module = str(meta.relative_to(work / "mutants"))[:-len(".py.meta")].replace("/", ".")
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        for name, code in codes.items():
            status = STATUS.get(code, "suspicious")
            counts[module][status] += 1
            if status in ("survived", "no tests"):
                survivors[module].append(f"{name.split('.')[-1]} ({status})")
    return counts, survivors


def markdown(counts: dict[str, Counter], survivors: dict[str, list[str]], wall: float) -> str:
    lines = ["# Mutation testing", "",
             f"`make mutation` (mutmut, {time.strftime('%Y-%m-%d')}, "
             + (f"{wall / 60:.0f} min on this machine)." if wall == wall else
                "a run stopped before the end: 'not run' mutants are left out of the score).")
             + " A mutant is one small change to the code (an operator, a "
             "constant, a call argument); the suite kills it when a test fails. Score = "
             "killed / all mutants; a mutant no test reaches counts as survived.", "",
             "| module | mutants | killed | survived | no test | timeout | not run | score |",
             "|---|---|---|---|---|---|---|---|"]
    total = Counter()
    for module in sorted(counts):
        c = counts[module]
        total.update(c)
        n = sum(c.values()) - c["not checked"]
        score = f"{100 * c['killed'] / n:.0f} %" if n else "-"
        lines.append(f"| `{module}` | {n} | {c['killed']} | {c['survived']} | "
                     f"{c['no tests']} | {c['timeout']} | {c['not checked']} | {score} |")
    n = sum(total.values()) - total["not checked"]
    if n:
        lines.append(f"| **all** | {n} | {total['killed']} | {total['survived']} | "
                     f"{total['no tests']} | {total['timeout']} | {total['not checked']} | "
                     f"**{100 * total['killed'] / n:.0f} %** |")
    lines += ["", "## Survivors", ""]
    for module in sorted(survivors):
        lines += [f"### `{module}`", ""] + [f"- `{s}`" for s in survivors[module]] + [""]
    return "\n".join(lines).rstrip() + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument("--from", dest="state", type=Path, default=None,
                        help="report a stopped run's folder (its mutants/) instead of running")
    args = parser.parse_args()
    if args.state is not None:
        counts, survivors = from_state(args.state)
        wall = float("nan")
    else:
        counts, survivors, wall = run(args.max_children)
    text = markdown(counts, survivors, wall)
    DOC.write_text(text)
    print(text.split("## Survivors")[0])
    print(f"written: {DOC.relative_to(REPO)}")


if __name__ == "__main__":
    main()
