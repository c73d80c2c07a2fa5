"""The drift verdict on synthetic samples: thresholds follow the window's size, shifts are caught."""

from __future__ import annotations

import pytest

from monitoring_job.drift import Calibration, calibrate, judge
from monitoring_job.sample import Sample
from support.traffic import answers


def traffic(rows: int, seed: int, length: tuple[int, int] = (5, 30), positive: float = 0.5) -> Sample:
    """Review-like texts with a model's labels, confidences and embeddings, from a fixed distribution."""
    made = answers(rows, seed, length=length, positive=positive)
    return Sample.build(made.texts, made.labels, made.confidences, made.embeddings)


@pytest.fixture(scope="module")
def reference() -> Sample:
    return traffic(1200, seed=1)


@pytest.fixture(scope="module")
def calibration(reference: Sample) -> Calibration:
    return calibrate(reference, sizes=(50, 200, 400), draws=300, alpha=0.05, seed=0)


def test_small_windows_get_larger_thresholds(calibration: Calibration) -> None:
    for metric, thresholds in calibration.thresholds.items():
        assert thresholds[0] > thresholds[-1], metric
    assert calibration.threshold("text_length", 120) == (calibration.thresholds["text_length"][0], 50)
    assert calibration.threshold("text_length", 399)[1] == 200
    assert calibration.threshold("text_length", 100_000)[1] == 400
    assert calibration.threshold("text_length", 10)[1] == 50  # never used: judge() refuses windows this small


def test_ordinary_small_windows_are_not_drift_and_would_be_with_a_large_windows_thresholds(
    reference: Sample, calibration: Calibration
) -> None:
    windows = [traffic(60, seed=100 + i) for i in range(60)]
    alarms = sum(judge(w, reference, calibration, min_rows=50).status == "drift" for w in windows)
    assert alarms <= 6, f"{alarms} of 60 ordinary windows called drifted"  # alpha is 5%

    ignoring_size = Calibration(
        **{
            **calibration.__dict__,
            "sizes": [50],
            "thresholds": {m: [t[-1]] for m, t in calibration.thresholds.items()},
        }
    )
    alarms_ignoring_size = sum(judge(w, reference, ignoring_size, min_rows=50).status == "drift" for w in windows)
    assert alarms_ignoring_size >= 30, "the test cannot tell size-aware thresholds from fixed ones"


def test_a_shift_is_drift_on_the_metrics_that_moved(reference: Sample, calibration: Calibration) -> None:
    longer = judge(traffic(100, seed=7, length=(30, 60)), reference, calibration, min_rows=50)
    assert longer.status == "drift"
    assert {"text_length", "word_count"} <= set(longer.drifted)
    assert "label" not in longer.drifted

    one_label = judge(traffic(100, seed=8, positive=1.0), reference, calibration, min_rows=50)
    assert one_label.drifted == ["label"]

    shifted = traffic(100, seed=9)
    assert shifted.embeddings is not None
    moved = Sample(shifted.columns, shifted.embeddings + 0.5)
    assert judge(moved, reference, calibration, min_rows=50).drifted == ["embedding"]


def test_every_result_keeps_its_method_threshold_and_calibrated_size(
    reference: Sample, calibration: Calibration
) -> None:
    verdict = judge(traffic(250, seed=11), reference, calibration, min_rows=50)
    assert [r.metric for r in verdict.results] == [
        "text_length",
        "word_count",
        "non_letter_share",
        "confidence",
        "label",
        "embedding",
    ]
    for result in verdict.results:
        assert result.calibrated_rows == 200
        assert result.threshold == calibration.threshold(result.metric, 250)[0]
        assert result.method in ("wasserstein", "jensenshannon", "euclidean_mean_distance")
        assert result.drifted == (result.score > result.threshold)


def test_too_few_rows_get_no_verdict(reference: Sample, calibration: Calibration) -> None:
    verdict = judge(traffic(49, seed=12), reference, calibration, min_rows=50)
    assert (verdict.status, verdict.rows, verdict.results) == ("insufficient_data", 49, [])


def test_a_calibration_is_stored_as_json_and_read_back_equal(calibration: Calibration) -> None:
    assert Calibration.from_json(calibration.to_json()) == calibration


def test_a_reference_too_small_for_the_smallest_window_is_refused() -> None:
    with pytest.raises(ValueError, match="too small"):
        calibrate(traffic(80, seed=13), sizes=(50,), draws=10)
