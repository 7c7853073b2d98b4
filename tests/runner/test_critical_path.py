"""The critical-chain reading of step traces (GRIDFED_TRACE) on hand-made timelines."""

import json

from benchmarks.critical_path import Trace, critical_path, dependencies, summary


def lockstep(steps: int, a_ms: float, b_ms: float, hop_ms: float) -> dict[str, Trace]:
    """A (phase 1) then B (phase 2) each minute; every grant comes hop_ms after a request."""
    a, b = Trace("a", {"a", "b"}, [], [], [], []), Trace("b", {"a", "b"}, [], [], [], [])
    clock = 0.0
    for k in range(steps):
        for trace, phase, work in ((a, 1e-3, a_ms), (b, 2e-3, b_ms)):
            trace.target.append(60.0 * k + phase)
            trace.request.append(trace.end[-1] if trace.end else 0.0)
            clock += hop_ms / 1000
            trace.start.append(clock)
            clock += work / 1000
            trace.end.append(clock)
    return {"a": a, "b": b}


def test_chain_splits_lockstep_wall_time_into_steps_and_hand_offs():
    chain = critical_path(lockstep(100, a_ms=10.0, b_ms=4.0, hop_ms=1.0))
    assert abs(chain["a"] - 1.0) < 1e-9 and abs(chain["b"] - 0.4) < 1e-9
    assert abs(chain["hand-offs"] - 0.199) < 1e-9  # 2 per step, less the very first grant


def test_a_trailing_federate_nobody_waits_for_is_only_on_the_chain_at_the_end():
    traces = lockstep(50, a_ms=10.0, b_ms=4.0, hop_ms=1.0)
    b = traces["b"]
    # a recorder that waits for b only (2 ms a step): granted 1 ms after b passes its time,
    # while a and b go on with the next step
    rec = Trace("rec", {"rec", "b"}, [t + 3e-3 for t in b.target], [], [], [])
    for k in range(50):
        passed = b.end[k]  # b's request for step k + 1 lets time k + 3e-3 pass
        rec.request.append(rec.end[-1] if rec.end else 0.0)
        rec.start.append(max(passed, rec.request[-1]) + 0.001)
        rec.end.append(rec.start[-1] + 0.002)
    chain = critical_path({**traces, "rec": rec})
    assert abs(chain["rec"] - 0.002) < 1e-9  # only its last step, after b had finished
    assert abs(chain["a"] - 0.5) < 1e-9 and abs(chain["b"] - 0.2) < 1e-9


def test_dependencies_follow_the_time_negotiation():
    plan = {"broker": {"time_coordination": "distributed"}, "federates": [
        {"name": "dev", "publications": ["dev/p"], "subscriptions": [], "endpoints": ["dev/e"]},
        {"name": "grid", "publications": ["grid/s"], "subscriptions": ["dev/p"],
         "endpoints": []},
        {"name": "mkt", "publications": [], "subscriptions": ["grid/s"], "endpoints": ["m/e"]},
        {"name": "rec", "publications": [], "subscriptions": ["grid/s", "dev/p"],
         "endpoints": []}]}
    deps = dependencies(plan)
    assert deps["grid"] == {"grid", "dev"} and deps["rec"] == {"rec", "grid", "dev"}
    assert deps["mkt"] == {"mkt", "grid", "dev"}  # dev may message it
    plan["broker"]["time_coordination"] = "global"
    assert all(d == {"dev", "grid", "mkt", "rec"} for d in dependencies(plan).values())


def test_summary_reads_a_results_folder(tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "launch_plan.json").write_text(json.dumps({
        "broker": {"time_coordination": "global"},
        "federates": [{"name": n, "publications": [], "subscriptions": [], "endpoints": []}
                      for n in ("a", "b")]}))
    for name, trace in lockstep(10, 10.0, 4.0, 1.0).items():
        rows = list(zip(trace.target, trace.request, trace.start, trace.end, strict=True))
        (tmp_path / "logs" / f"{name}.trace.json").write_text(json.dumps(rows))
    text = summary(tmp_path)
    assert "time loop: 0.16 s wall" in text
    assert text.splitlines()[2].split()[:2] == ["a", "0.10"]
