"""Property: any mutation of a shipped scenario (a value of another type or out of range, a
deleted field, an unknown key, a reference to a bus that does not exist) either compiles
(`--dry-run`) or is refused with exit 2 and a message naming a field on the mutated path;
never a traceback."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.schema import SCENARIO_DIR
from tests.runner.cli_inproc import invoke

SCENARIOS = {p.stem: yaml.safe_load(p.read_text()) for p in sorted(SCENARIO_DIR.glob("*.yaml"))}
CASES = {"tried": 0, "compiled": 0, "refused": 0}
EXAMPLES = 120


@pytest.fixture(scope="module", autouse=True)
def report_cases():
    """Print how many mutated scenarios were tried (run pytest -s to see it)."""
    yield
    print(f"\n  fuzzed scenarios: {CASES}")

VALUES = st.one_of(
    st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6), st.booleans(), st.none(), st.sampled_from(["999", "-1s", "1e9", ""]),
    st.lists(st.integers(-5, 5), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside a scenario (keys and list indices)."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += paths(value, (*prefix, i))
    return found


def parent_of(data: Any, path: tuple) -> Any:
    for part in path[:-1]:
        data = data[part]
    return data


@st.composite
def mutations(draw) -> tuple[dict, tuple, str]:
    name = draw(st.sampled_from(sorted(SCENARIOS)))
    data = copy.deepcopy(SCENARIOS[name])
    path = draw(st.sampled_from(paths(data)))
    how = draw(st.sampled_from(["replace", "delete", "unknown_key", "bad_bus"]))
    parent = parent_of(data, path)
    if how == "delete" and isinstance(parent, dict):
        del parent[path[-1]]
    elif how == "unknown_key" and isinstance(parent, dict):
        parent[draw(st.sampled_from(["colour", "perod", "buss", "extra"]))] = 1
        path = (*path[:-1], "<unknown key>")
    elif how == "bad_bus" and isinstance(parent[path[-1]], str):
        parent[path[-1]] = "no_such_bus_42"
    else:
        how = "replace"
        parent[path[-1]] = draw(VALUES)
    return data, path, how


def field_names(path: tuple) -> list[str]:
    return [str(p) for p in path if isinstance(p, str) and p != "<unknown key>"]


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(mutations())
def test_mutated_scenarios_compile_or_name_the_field(case):
    data, path, how = case
    CASES["tried"] += 1
    with tempfile.TemporaryDirectory() as tmp:
        scenario = Path(tmp) / "s.yaml"
        scenario.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
        code, text = invoke("run", str(scenario), "--dry-run", "--out", str(Path(tmp) / "o"))
    if code == 0:
        CASES["compiled"] += 1
        return
    CASES["refused"] += 1
    assert code == 2, f"{how} at {path}: exit {code}: {text}"
    assert text.startswith("error:"), text
    names = field_names(path)
    assert any(n in text for n in names) or (how == "unknown_key" and "unknown field" in text), \
        f"{how} at {path}: message names none of {names}: {text}"

