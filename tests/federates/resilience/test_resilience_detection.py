"""Detection of PCC deviations: threshold, confirmation and clearing runs."""

from federates.resilience.detection import DetectionConfig, Detector


def feed(det: Detector, measured: list[float], scheduled: float = 1000.0, period: float = 60.0):
    return [det.update(k * period, m, scheduled) for k, m in enumerate(measured)]


def test_threshold_is_max_of_absolute_and_relative():
    det = Detector(DetectionConfig(threshold_kw=10, threshold_pct=2))
    assert det.threshold(1000.0) == 20.0
    assert det.threshold(-100.0) == 10.0


def test_detects_after_confirm_steps_and_records_time():
    det = Detector(DetectionConfig(threshold_kw=10, threshold_pct=0, confirm_steps=3))
    events = feed(det, [1000, 1005, 1050, 1050, 1050, 1050])
    kinds = [e.kind if e else None for e in events]
    assert kinds == [None, None, None, None, "attack_detected", None]
    assert det.active
    assert det.detection_time == 240.0
    assert det.onset_time == 120.0
    assert det.detection_delay_s == 120.0
    assert det.deviation_kw == 50.0


def test_isolated_spikes_do_not_alarm():
    det = Detector(DetectionConfig(threshold_kw=10, threshold_pct=0, confirm_steps=2))
    events = feed(det, [1000, 1050, 1000, 1050, 1000, 1050])
    assert all(e is None for e in events)
    assert not det.active and det.detection_time is None


def test_clears_after_clear_steps_within_threshold():
    det = Detector(DetectionConfig(threshold_kw=10, threshold_pct=0, confirm_steps=1,
                                   clear_steps=2))
    events = feed(det, [1100, 1100, 1000, 1100, 1000, 1000, 1000])
    kinds = [e.kind if e else None for e in events]
    assert kinds == [
        "attack_detected", None, None, None, None, "attack_cleared", None]
    assert not det.active
    assert det.clear_time == 300.0
    assert [e.kind for e in det.events] == ["attack_detected", "attack_cleared"]


def test_direction_up_ignores_import_below_schedule():
    det = Detector(DetectionConfig(threshold_kw=10, threshold_pct=0, confirm_steps=1,
                                   direction="up"))
    assert feed(det, [900, 900]) == [None, None]
    assert det.update(120, 1100, 1000).kind == "attack_detected"


def test_each_direction_counts_only_its_side_and_the_threshold_itself_is_not_beyond():
    """Schedule 1000 kW, threshold max(10 kW, 2 %) = 20 kW: written out by hand."""
    cases = {  # measured: (up, down, both)
        1020.0: (False, False, False),  # exactly at the threshold: not beyond
        1020.001: (True, False, True),
        980.0: (False, False, False),
        979.999: (False, True, True),
        1000.0: (False, False, False),
        1500.0: (True, False, True),
        400.0: (False, True, True),
    }
    for measured, expected in cases.items():
        got = tuple(Detector(DetectionConfig(threshold_kw=10, threshold_pct=2, direction=d))
                    .exceeds(measured, 1000.0) for d in ("up", "down", "both"))
        assert got == expected, measured


def test_downward_attack_detected_and_cleared_with_direction_down():
    det = Detector(DetectionConfig(threshold_kw=10, threshold_pct=0, confirm_steps=2,
                                   clear_steps=2, direction="down"))
    events = feed(det, [1000, 950, 1050, 950, 950, 950, 1000, 1000])
    kinds = [e.kind if e else None for e in events]
    # 1050 is above the schedule: not a downward deviation, it breaks the first run
    assert kinds == [None, None, None, None, "attack_detected", None, None, "attack_cleared"]
    assert det.detection_time == 240.0 and det.onset_time == 180.0
    assert det.deviation_kw == 0.0


def test_two_sided_detection_sees_both_signs_in_one_run():
    det = Detector(DetectionConfig(threshold_kw=10, threshold_pct=0, confirm_steps=3,
                                   direction="both"))
    events = feed(det, [1000, 950, 1050, 950])
    assert [e.kind if e else None for e in events] == [None, None, None, "attack_detected"]
    assert det.onset_time == 60.0
    up_only = Detector(DetectionConfig(threshold_kw=10, threshold_pct=0, confirm_steps=3))
    assert all(e is None for e in feed(up_only, [1000, 950, 1050, 950]))


def test_events_carry_their_time_deviation_and_onset_and_a_new_alarm_rearms():
    det = Detector(DetectionConfig(threshold_kw=10, threshold_pct=0, confirm_steps=2,
                                   clear_steps=2))
    # alarm at t=120 (onset 60), back within at once: clears after exactly 2 steps
    feed(det, [1000, 1040, 1030, 1000, 1005, 1000, 1060, 1070])
    detected, cleared, again = det.events
    assert (detected.time, detected.kind, detected.deviation_kw, detected.onset_time) == \
        (120.0, "attack_detected", 30.0, 60.0)
    assert (cleared.time, cleared.kind, cleared.deviation_kw, cleared.onset_time) == \
        (240.0, "attack_cleared", 5.0, 180.0)
    assert (again.time, again.onset_time, again.deviation_kw) == (420.0, 360.0, 70.0)
    assert det.active and det.detection_time == 420.0 and det.clear_time is None
    assert det.detection_delay_s == 60.0
    det.reset()
    assert not det.active
    assert det.update(480.0, 1100, 1000) is None  # reset forgets the run: confirm anew
    assert det.update(540.0, 1100, 1000).kind == "attack_detected"
