"""Scenario validation: bad input fails early with the field, the value and what was expected."""

import textwrap

import pytest

from runner.schema import ScenarioError, apply_overrides, load_scenario, parse_duration

GOOD = """
name: demo
feeder: case33bw
duration: 2h
period: 1min
federates:
  grid: {kind: grid}
  recorder: {kind: recorder}
"""


def write(tmp_path, text):
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize("raw,seconds", [("24h", 86400), ("15min", 900), ("30s", 30),
                                         (90, 90), ("1.5h", 5400), ("2d", 172800)])
def test_durations(raw, seconds):
    assert parse_duration(raw) == seconds


@pytest.mark.parametrize("raw", ["fast", "10 parsecs", True, [1]])
def test_bad_durations(raw):
    with pytest.raises(ValueError):
        parse_duration(raw)


def test_good_scenario_loads(tmp_path):
    s = load_scenario(write(tmp_path, GOOD))
    assert s.duration == 7200 and s.period == 60 and s.broker.host == "127.0.0.1"


@pytest.mark.parametrize("edit,fragment,field,value", [
    ("duration: 2h", "duration: soon", "duration", "soon"),
    ("feeder: case33bw", "feeder: ieee999", "feeder", "ieee999"),
    ("  grid: {kind: grid}", "  grid: {kind: gird}", "federates.grid.kind", "gird"),
    ("period: 1min", "period: 1min\ncolour: blue", "colour", "blue"),
    ("period: 1min", "period: 1min\nbroker: {core_type: tcp}", "broker.core_type", "tcp"),
])
def test_bad_fields_are_named(tmp_path, edit, fragment, field, value):
    path = write(tmp_path, GOOD.replace(edit, fragment))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert str(path) in message
    assert f"  {field}: " in message and repr(value) in message


def test_messages_name_value_and_expectation(tmp_path):
    with pytest.raises(ScenarioError) as info:
        load_scenario(write(tmp_path, GOOD.replace("ieee", "").replace("case33bw", "ieee999")))
    assert "feeder" in str(info.value) and "ieee999" in str(info.value)
    assert "case33bw" in str(info.value)  # lists what is expected


def test_overrides_reach_federate_config(tmp_path):
    data = {"name": "x", "federates": {"grid": {"kind": "grid"}}}
    apply_overrides(data, ["duration=2h", "grid.period=30s", "grid.baseline.scale=0.5"])
    assert data["duration"] == "2h"
    assert data["federates"]["grid"]["period"] == "30s"
    assert data["federates"]["grid"]["config"]["baseline"]["scale"] == 0.5
    with pytest.raises(ScenarioError, match="unknown field 'nope'"):
        apply_overrides(data, ["nope=1"])
    with pytest.raises(ScenarioError, match="KEY=VALUE"):
        apply_overrides(data, ["duration"])


def test_override_is_validated_like_the_file(tmp_path):
    with pytest.raises(ScenarioError, match="federates.grid.period"):
        load_scenario(write(tmp_path, GOOD), ["grid.period=-5"])


def test_not_yaml_and_missing_file(tmp_path):
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_scenario(write(tmp_path, "name: [unclosed"))
    with pytest.raises(ScenarioError, match="not found"):
        load_scenario(tmp_path / "missing.yaml")
