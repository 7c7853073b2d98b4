"""`gridfed study`: a study kind plugged in through the `gridfed.studies` entry point is
validated before it runs, runs into a fresh folder, and leaves INCOMPLETE when it fails."""

from __future__ import annotations

import json
import os

import numpy as np
import yaml

from tests.conftest import gridfed


def install(site) -> dict[str, str]:
    dist = site / "toystudy-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toystudy\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[gridfed.studies]\ntoy = tests.runner.toy_study:run\n")
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p)
    return {"PYTHONPATH": path}


def study_file(tmp_path, **config):
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump({"kind": "toy", "name": "toy", "seed": 11,
                                    "config": config}))
    return str(path)


def test_study_runs_into_its_folder_with_the_seed(tmp_path):
    env = install(tmp_path / "site")
    out = tmp_path / "out"
    result = gridfed("study", study_file(tmp_path, samples=50), "--out", str(out),
                     "--jobs", "2", env_extra=env)
    assert result.returncode == 0, result.stdout + result.stderr
    expected = float(np.random.default_rng(11).standard_normal(50).mean())
    assert json.loads((out / "results.json").read_text()) == {
        "mean": expected, "samples": 50, "jobs": 2}
    resolved = yaml.safe_load((out / "study.yaml").read_text())
    assert resolved["config"] == {"samples": 50, "fail": False}
    assert resolved["gridfed"]["dependencies"]["numpy"] == np.__version__
    assert not (out / "INCOMPLETE").exists()
    again = gridfed("study", study_file(tmp_path), "--out", str(out), env_extra=env)
    assert again.returncode == 2 and "not empty" in again.stderr  # never overwritten


def test_bad_study_input_is_refused_before_anything_runs(tmp_path):
    env = install(tmp_path / "site")
    out = tmp_path / "never"
    bad = gridfed("study", study_file(tmp_path, samples=0), "--out", str(out), env_extra=env)
    assert bad.returncode == 2 and "config.samples" in bad.stderr
    assert "Traceback" not in bad.stderr and not out.exists()
    unknown = gridfed("study", study_file(tmp_path, sample=3), "--out", str(out), env_extra=env)
    assert unknown.returncode == 2 and "config.sample: unknown field" in unknown.stderr
    path = tmp_path / "nokind.yaml"
    path.write_text(yaml.safe_dump({"kind": "nosuch", "name": "x"}))
    nokind = gridfed("study", str(path), "--out", str(out))
    assert nokind.returncode == 2 and "unknown study kind 'nosuch'" in nokind.stderr
    override = gridfed("study", study_file(tmp_path), "--set", "config.samples=-1",
                       "--out", str(out), env_extra=env)
    assert override.returncode == 2 and "config.samples" in override.stderr
    assert not out.exists()


def test_a_failing_study_keeps_its_partial_output_marked_incomplete(tmp_path):
    env = install(tmp_path / "site")
    out = tmp_path / "out"
    result = gridfed("study", study_file(tmp_path, fail=True), "--out", str(out), env_extra=env)
    assert result.returncode == 1
    assert "the toy study was told to fail" in result.stderr
    assert (out / "draws.json").exists()
    assert "told to fail" in (out / "INCOMPLETE").read_text()
