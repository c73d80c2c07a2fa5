"""Quality figures against a hand computation on a small labelled fixture."""

from __future__ import annotations

import uuid

import pytest

from inference_core.db.monitoring import LabelledAnswer
from monitoring_job.quality import quality, quality_by_sampling

# predicted, actual: 10 answers, 7 right. Positive: TP 4, FP 1, FN 2. Negative: TP 3, FP 2, FN 1.
PAIRS = [
    ("positive", "positive"),
    ("positive", "positive"),
    ("positive", "positive"),
    ("positive", "positive"),
    ("positive", "negative"),
    ("negative", "positive"),
    ("negative", "positive"),
    ("negative", "negative"),
    ("negative", "negative"),
    ("negative", "negative"),
]


def figures(pairs: list[tuple[str, str]]) -> dict[tuple[str, str], float | None]:
    records = quality([p for p, _ in pairs], [a for _, a in pairs])
    return {(r.metric, r.key): r.value for r in records}


def test_binary_figures_match_a_hand_computation() -> None:
    found = figures(PAIRS)
    assert found[("labelled_requests", "")] == 10
    assert found[("accuracy", "")] == pytest.approx(7 / 10)
    assert found[("precision", "")] == pytest.approx(4 / 5)  # of "positive", the label that sorts last
    assert found[("recall", "")] == pytest.approx(4 / 6)
    assert found[("f1", "")] == pytest.approx(2 * (4 / 5) * (4 / 6) / (4 / 5 + 4 / 6))
    assert found[("precision", "negative")] == pytest.approx(3 / 5)
    assert found[("recall", "negative")] == pytest.approx(3 / 4)


def test_more_labels_are_macro_averaged() -> None:
    pairs = [("a", "a"), ("a", "a"), ("a", "b"), ("b", "b"), ("c", "c"), ("c", "a"), ("c", "b")]
    found = figures(pairs)
    precision = {"a": 2 / 3, "b": 1, "c": 1 / 3}
    recall = {"a": 2 / 3, "b": 1 / 3, "c": 1}
    assert found[("accuracy", "")] == pytest.approx(4 / 7)
    assert found[("precision", "")] == pytest.approx(sum(precision.values()) / 3)  # not 4/7: macro, not micro
    assert found[("recall", "")] == pytest.approx(sum(recall.values()) / 3)
    assert found[("precision", "c")] == pytest.approx(1 / 3)


def test_no_labels_is_said_as_such() -> None:
    assert figures([]) == {("labelled_requests", ""): 0.0}


def test_each_kind_of_label_is_scored_apart_and_a_request_counts_once_in_the_headline() -> None:
    both = uuid.uuid4()  # labelled in Label Studio (right) and by its client (wrong): the annotator wins
    answers = [
        LabelledAnswer(both, "positive", "positive", "random"),
        LabelledAnswer(both, "positive", "negative", "client"),
        LabelledAnswer(uuid.uuid4(), "negative", "positive", "uncertainty"),
        LabelledAnswer(uuid.uuid4(), "negative", "negative", "client"),
    ]
    found = {(r.metric, r.key): r.value for r in quality_by_sampling(answers)}
    assert found[("labelled_requests", "")] == 3
    assert found[("accuracy", "")] == pytest.approx(2 / 3)
    assert (found[("random.accuracy", "")], found[("uncertainty.accuracy", "")]) == (1.0, 0.0)
    assert found[("client.labelled_requests", "")] == 2 and found[("client.accuracy", "")] == pytest.approx(1 / 2)


def test_a_single_label_everywhere_is_all_right_and_nothing_else_is_defined() -> None:
    assert figures([("positive", "positive")] * 3) == {("labelled_requests", ""): 3, ("accuracy", ""): 1.0}
