"""The HELICS runtime through a real broker: ordering inside a step, messages, errors."""

import json

from tests.conftest import assert_clean, gridfed, write_scenario


def toy_scenario(tmp_path, sink_out, **extra):
    return {
        "name": "toys", "feeder": "case33bw", "duration": "5min", "period": "1min",
        "federates": {
            "src": {"kind": "tests.fedtoys:Toy", "phase": 1,
                    "config": {"role": "source", "peer": "dst"}},
            "dst": {"kind": "tests.fedtoys:Toy", "phase": 3,
                    "config": {"role": "sink", "peer": "src", "out": str(sink_out)}},
        },
        **extra,
    }


def test_values_arrive_in_the_same_step_and_messages_too(tmp_path):
    out = tmp_path / "seen.json"
    path = write_scenario(tmp_path / "s.yaml", toy_scenario(tmp_path, out))
    run_dir = tmp_path / "run"
    result = gridfed("run", str(path), "--out", str(run_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    seen = json.loads(out.read_text())
    assert [s["t"] for s in seen] == [0, 60, 120, 180, 240, 300]
    for step in seen:  # a later phase sees the value and message of the same step: no lag
        assert step["x"] == 2 * step["t"]
        assert step["msgs"] == [step["t"]]
    assert_clean(run_dir)


def test_phase_order_reversed_gives_a_one_step_lag(tmp_path):
    """Control: with the sink before the source, what it sees is one step old."""
    out = tmp_path / "seen.json"
    data = toy_scenario(tmp_path, out)
    data["federates"]["src"]["phase"], data["federates"]["dst"]["phase"] = 3, 1
    path = write_scenario(tmp_path / "s.yaml", data)
    result = gridfed("run", str(path), "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stdout + result.stderr
    seen = json.loads(out.read_text())
    assert seen[0]["x"] is None and seen[0]["msgs"] == []
    for step in seen[1:]:
        assert step["x"] == 2 * (step["t"] - 60)
        assert step["msgs"] == [step["t"] - 60]


def test_broker_port_option_is_used_and_released(tmp_path):
    from runner.launch import free_port

    port = free_port()
    out = tmp_path / "seen.json"
    path = write_scenario(tmp_path / "s.yaml", toy_scenario(tmp_path, out))
    run_dir = tmp_path / "run"
    result = gridfed("run", str(path), "--out", str(run_dir), "--broker-port", str(port))
    assert result.returncode == 0, result.stdout + result.stderr
    plan = json.loads((run_dir / "launch_plan.json").read_text())
    assert plan["broker"]["address"] == f"tcp://127.0.0.1:{port}"
    assert_clean(run_dir)


def test_profile_env_writes_one_cprofile_per_federate(tmp_path):
    """GRIDFED_PROFILE=1 runs every federate under cProfile: logs/<name>.prof, readable by
    pstats, holding the federate's own step function."""
    import pstats

    out = tmp_path / "seen.json"
    path = write_scenario(tmp_path / "s.yaml", toy_scenario(tmp_path, out))
    run_dir = tmp_path / "run"
    result = gridfed("run", str(path), "--out", str(run_dir),
                     env_extra={"GRIDFED_PROFILE": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("src", "dst"):
        stats = pstats.Stats(str(run_dir / "logs" / f"{name}.prof"))
        called = {func for (_, _, func) in stats.stats}  # type: ignore[attr-defined]
        assert "on_step" in called
    assert json.loads(out.read_text())  # the run itself still did its work
    assert_clean(run_dir)
