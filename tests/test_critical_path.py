"""The critical-chain reading of step traces (GRIDFED_TRACE) on hand-made timelines."""

import json

from benchmarks.critical_path import Trace, critical_path, summary


def lockstep(steps: int, a_ms: float, b_ms: float, hop_ms: float) -> dict[str, Trace]:
    """A (phase 1) then B (phase 2) each minute; every grant comes hop_ms after a request."""
    a, b = Trace("a", 0.0, [], [], [], []), Trace("b", 0.0, [], [], [], [])
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


def test_a_lagging_federate_with_output_delay_is_not_on_the_chain():
    traces = lockstep(50, a_ms=10.0, b_ms=4.0, hop_ms=1.0)
    # a recorder that runs 3 steps behind b (it may: its output delay is 10 steps)
    b = traces["b"]
    rec = Trace("rec", 600.0, [t + 3e-3 for t in b.target], [], [], [])
    for k in range(50):
        later = b.end[min(k + 3, 49)]
        rec.request.append(rec.end[-1] if rec.end else later)
        rec.start.append(later)
        rec.end.append(later + 0.002)
    chain = critical_path({**traces, "rec": rec})
    assert "rec" not in chain  # with an output delay it holds nobody up
    assert abs(chain["a"] - 0.5) < 1e-9 and abs(chain["b"] - 0.2) < 1e-9


def test_summary_reads_a_results_folder(tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "configs").mkdir()
    for name, trace in lockstep(10, 10.0, 4.0, 1.0).items():
        rows = list(zip(trace.target, trace.request, trace.start, trace.end, strict=True))
        (tmp_path / "logs" / f"{name}.trace.json").write_text(json.dumps(rows))
        (tmp_path / "configs" / f"{name}.json").write_text(json.dumps({"runtime": {}}))
    text = summary(tmp_path)
    assert "time loop: 0.16 s wall" in text
    assert text.splitlines()[2].split()[:2] == ["a", "0.10"]
