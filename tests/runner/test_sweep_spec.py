"""Sweep definitions: expansion of each parameter form, seeds, and validation of every point
before anything runs (pure: nothing is launched)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import yaml

from runner.schema import ScenarioError, apply_overrides
from runner.sweep.spec import (
    SweepSpec,
    combinations,
    derive_seed,
    expand,
    load_sweep,
    validate_points,
)
from tests.conftest import gridfed

SMALL = {"name": "small13", "seed": 2, "feeder": "ieee13", "duration": "10min",
         "period": "1min", "federates": {
             "pv": {"kind": "player", "config": {"items": [
                 {"bus": "675", "profile": "flat", "p_kw": -50}]}},
             "grid": {"kind": "grid", "config": {"baseline": {"shape": "residential"}}},
             "recorder": {"kind": "recorder"}}}


def spec(**parameters) -> SweepSpec:
    return SweepSpec.model_validate({"name": "t", "scenario": "x", "seed": 4,
                                     "parameters": parameters})


def test_grid_is_the_cartesian_product_last_key_fastest():
    combos = combinations(spec(grid={"a": [1, 2, 3], "b": ["x", "y"]}).parameters, 0)
    assert combos == [{"a": a, "b": b} for a, b in itertools.product([1, 2, 3], ["x", "y"])]


def test_zip_walks_lists_together_and_multiplies_with_grid():
    combos = combinations(spec(grid={"a": [1, 2]}, zip={"b": [10, 20, 30],
                                                        "c": [0.1, 0.2, 0.3]}).parameters, 0)
    assert len(combos) == 6
    assert all(round(c["b"] / 100, 9) == c["c"] for c in combos)
    with pytest.raises(ValueError, match="same length"):
        spec(zip={"b": [1, 2], "c": [1]})
    with pytest.raises(ValueError, match="more than one form"):
        spec(grid={"a": [1]}, zip={"a": [2]})


def test_random_draws_follow_their_distributions_and_the_sweep_seed():
    params = spec(random={"count": 400, "params": {
        "u": {"uniform": [2, 5]}, "l": {"loguniform": [1, 1000]},
        "n": {"normal": [10, 2]}, "i": {"integers": [1, 3]}, "c": {"choice": ["a", "b"]}}}
    ).parameters
    draws = combinations(params, 7)
    assert len(draws) == 400
    u = np.array([d["u"] for d in draws])
    assert u.min() >= 2 and u.max() < 5 and abs(u.mean() - 3.5) < 0.15
    log = np.log10([d["l"] for d in draws])  # uniform in log space: mean exponent 1.5
    assert log.min() >= 0 and log.max() < 3 and abs(log.mean() - 1.5) < 0.15
    n = np.array([d["n"] for d in draws])
    assert abs(n.mean() - 10) < 0.4 and abs(n.std() - 2) < 0.3
    assert {d["i"] for d in draws} == {1, 2, 3} and {d["c"] for d in draws} == {"a", "b"}
    assert combinations(params, 7) == draws  # same seed, same draws
    assert combinations(params, 8) != draws
    with pytest.raises(ValueError, match="exactly one"):
        spec(random={"count": 2, "params": {"u": {"uniform": [0, 1], "normal": [0, 1]}}})


def test_latin_hypercube_puts_one_sample_in_each_stratum_of_each_dimension():
    count = 20
    params = spec(latin_hypercube={"count": count, "params": {
        "x": {"low": -200, "high": 0}, "y": {"low": 1, "high": 100, "scale": "log"},
        "k": {"low": 0, "high": 19.999, "integer": True}}}).parameters
    samples = combinations(params, 3)
    x_strata = sorted(math.floor((s["x"] + 200) / 200 * count) for s in samples)
    y_strata = sorted(math.floor(math.log(s["y"]) / math.log(100) * count) for s in samples)
    assert x_strata == list(range(count)) and y_strata == list(range(count))
    assert all(isinstance(s["k"], int) and 0 <= s["k"] <= 20 for s in samples)
    with pytest.raises(ValueError, match="above low"):
        spec(latin_hypercube={"count": 2, "params": {"x": {"low": 1, "high": 1}}})


def test_replicates_ids_and_seeds():
    points = expand(spec(grid={"a": [1, 2]}, replicates=3))
    assert [p.id for p in points] == [f"p{i:03d}" for i in range(6)]
    assert [(p.params["a"], p.replicate) for p in points] == list(
        itertools.product([1, 2], range(3)))
    seeds = [p.seed for p in points]
    assert len(set(seeds)) == 6 and seeds == [derive_seed(4, p.id) for p in points]
    assert all(f"seed={p.seed}" in p.overrides and "broker.port=null" in p.overrides
               for p in points)
    paired = expand(SweepSpec.model_validate({"name": "t", "scenario": "x", "seed": 4,
                                              "seeds": "per_replicate", "parameters": {
                                                  "grid": {"a": [1, 2]}, "replicates": 3}}))
    assert [p.seed for p in paired[:3]] == [p.seed for p in paired[3:]]
    assert len({p.seed for p in paired}) == 3


def test_set_items_read_back_as_the_swept_values():
    values = {"a": 0.1 + 0.2, "b": "pv_clear_sky", "c": [1, {"d": None}], "e": True, "f": -60}
    points = expand(SweepSpec.model_validate({"name": "t", "scenario": "x",
                                              "parameters": {"zip": {f"dev.{k}": [v] for k, v
                                                                     in values.items()}}}))
    data = apply_overrides({"federates": {"dev": {"kind": "x"}}}, points[0].overrides)
    assert data["federates"]["dev"]["config"] == values


def write(path, data):
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_every_point_is_validated_and_the_bad_one_named(tmp_path):
    write(tmp_path / "small.yaml", SMALL)
    good = load_sweep(write(tmp_path / "good.yaml", {
        "name": "g", "scenario": "small.yaml", "parameters": {"grid": {
            "grid.baseline.scale": [0.5, 1.0], "pv.items.0.p_kw": [-10, -20]}}}))
    validate_points(good)
    assert len(good.points) == 4 and good.scenario_path == (tmp_path / "small.yaml").resolve()
    bad_value = load_sweep(write(tmp_path / "bad.yaml", {
        "name": "b", "scenario": "small.yaml",
        "parameters": {"zip": {"period": [60, -5]}}}))
    with pytest.raises(ScenarioError, match=r"point p001 \(period=-5.*\n(.*\n)*\s*period:"):
        validate_points(bad_value)
    unknown = load_sweep(write(tmp_path / "unknown.yaml", {
        "name": "u", "scenario": "small.yaml",
        "parameters": {"grid": {"grid.baseline.scal": [1.0]}}}))
    with pytest.raises(ScenarioError, match=r"point p000.*\n(.*\n)*.*"
                       r"federates\.grid\.config\.baseline\.scal"):
        validate_points(unknown)
    with pytest.raises(ScenarioError, match="parameters.grid.x"):
        load_sweep(write(tmp_path / "form.yaml", {"name": "f", "scenario": "small.yaml",
                                                   "parameters": {"grid": {"x": 1}}}))
    with pytest.raises(ScenarioError, match="unknown field"):
        load_sweep(write(tmp_path / "key.yaml", {"name": "f", "scenario": "small.yaml",
                                                  "parameter": {}}))


def test_cli_rejects_a_bad_point_with_exit_2_before_running(tmp_path):
    write(tmp_path / "small.yaml", SMALL)
    sweep = write(tmp_path / "bad.yaml", {"name": "b", "scenario": "small.yaml",
                                          "parameters": {"grid": {"pv.items.0.p_kw": [-10],
                                                                  "grid.nonsense": [1, 2]}}})
    out = tmp_path / "out"
    result = gridfed("sweep", str(sweep), "--out", str(out))
    assert result.returncode == 2
    assert "point p000" in result.stderr and "nonsense" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()
    listed = gridfed("sweep", str(write(tmp_path / "ok.yaml", {
        "name": "o", "scenario": "small.yaml", "parameters": {
            "grid": {"pv.items.0.p_kw": [-10, -20]}, "replicates": 2}})), "--dry-run")
    assert listed.returncode == 0 and listed.stdout.count("p00") == 4
