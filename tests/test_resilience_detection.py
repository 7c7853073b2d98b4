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
