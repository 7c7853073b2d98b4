"""Trust, commitment and resilience scores against hand computation."""

import math

import pytest

from federates.resilience.scores import (
    ScoreBook,
    ScoreConfig,
    combine,
    commitment_observation,
    trust_observation,
)


def test_observations_closed_form():
    assert trust_observation(0.2, 0, 0.5) == pytest.approx(0.8)
    assert trust_observation(0.2, 2, 0.5) == pytest.approx(0.2)
    assert trust_observation(1.5, 0, 0.5) == 0.0
    assert commitment_observation(10.0, 8.0, 1.0) == pytest.approx(0.8)
    assert commitment_observation(10.0, 30.0, 1.0) == 0.0
    # tiny schedules are normalised by the floor
    assert commitment_observation(0.0, 0.5, 1.0) == pytest.approx(0.5)


def test_combine_rules():
    assert combine(0.64, 1.0, 0.5) == pytest.approx(0.8)
    assert combine(0.0, 1.0, 0.5) == 0.0
    assert combine(0.6, 1.0, 0.5, "arithmetic") == pytest.approx(0.8)


def test_ewma_updates_and_lost_messages():
    cfg = ScoreConfig(trust_rate=0.5, commitment_rate=0.25, lost_penalty=0.5,
                      silent_observation=0.5)
    book = ScoreBook(cfg)
    book.add(["a", "b"])
    book.update(telemetry={"a": (0.2, 0)}, responses={"a": (10.0, 6.0)})
    # a: TS = 0.5*1 + 0.5*0.8 = 0.9; CS = 0.75*1 + 0.25*0.6 = 0.9
    assert book.trust["a"] == pytest.approx(0.9)
    assert book.commitment["a"] == pytest.approx(0.9)
    # b sent nothing: silent observation 0.5, TS = 0.5 + 0.5*0.5 = 0.75, CS unchanged
    assert book.trust["b"] == pytest.approx(0.75)
    assert book.commitment["b"] == 1.0
    assert book.resilience("b") == pytest.approx(math.sqrt(0.75))
    snap = {s.agent: s for s in book.snapshot()}
    assert snap["a"].resilience == pytest.approx(0.9)


def test_silent_agent_trust_decays_towards_zero_and_scores_stay_in_unit_interval():
    book = ScoreBook(ScoreConfig(trust_rate=0.3))
    book.add(["cut", "ok"])
    for _ in range(30):
        book.update(telemetry={"ok": (0.0, 0)}, responses={"ok": (5.0, 5.0)})
    assert book.trust["cut"] == pytest.approx(0.7 ** 30)
    assert book.resilience("cut") < 0.01
    assert book.resilience("ok") == 1.0
    assert all(0.0 <= s.resilience <= 1.0 for s in book.snapshot())


def test_partial_message_loss_reported_in_telemetry():
    book = ScoreBook(ScoreConfig(trust_rate=1.0, lost_penalty=0.5))
    book.update(telemetry={"a": (0.0, 3)})
    assert book.trust["a"] == pytest.approx(0.125)
