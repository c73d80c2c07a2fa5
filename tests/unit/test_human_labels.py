"""People's labels in training: the split, the fingerprint, the held-out score and the promotion rule."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from inference_core.db.labels import LabelledText
from model_runtime.base import BatchOutput
from model_runtime.catalog import ModelSpec
from model_runtime.human_labels import HELD_OUT_PERCENT, accuracy, is_held_out, split
from model_runtime.lifecycle import HUMAN_ACCURACY, HUMAN_HELD_OUT, answers, decide

LABELS = ("negative", "positive")


def labelled(n: int, label: str = "positive") -> list[LabelledText]:
    return [LabelledText(uuid.UUID(int=i + 1), f"text {i}", label) for i in range(n)]


def test_a_request_is_held_out_by_its_id_alone_and_about_the_declared_share_is() -> None:
    items = labelled(2000)
    first, again = split(items, LABELS), split(list(reversed(items)), LABELS)
    assert {x.request_id for x in first.held_out} == {x.request_id for x in again.held_out}
    assert len(first.held_out) == pytest.approx(2000 * HELD_OUT_PERCENT / 100, rel=0.15)
    assert all(is_held_out(x.request_id) for x in first.held_out)
    assert not any(is_held_out(x.request_id) for x in first.train)


def test_the_fingerprint_names_the_training_set_whatever_its_order() -> None:
    items = labelled(50)
    assert split(items, LABELS).fingerprint == split(list(reversed(items)), LABELS).fingerprint
    relabelled = [LabelledText(x.request_id, x.text, "negative") for x in items]
    assert split(relabelled, LABELS).fingerprint != split(items, LABELS).fingerprint
    assert split([], LABELS).params() == {
        "human_labels_train": 0,
        "human_labels_held_out": 0,
        "human_labels_fingerprint": "none",
    }


def test_labels_outside_the_label_set_are_not_used() -> None:
    found = split(labelled(40, "neutral") + labelled(10), LABELS)
    assert {x.label for x in found.train + found.held_out} == {"positive"}


def test_held_out_labels_gate_only_when_there_are_enough() -> None:
    found = split(labelled(200), LABELS)
    assert found.gate(len(found.held_out)) == found.held_out
    assert found.gate(len(found.held_out) + 1) == []


class SaysPositive:
    def predict(self, texts: Sequence[str]) -> BatchOutput:
        return BatchOutput([{"label": "positive"} for _ in texts], np.zeros((len(texts), 1), dtype=np.float32))


def test_held_out_accuracy_is_the_share_the_model_labels_as_people_did() -> None:
    items = labelled(300) + labelled(100, "negative")
    predicted = answers(SaysPositive(), [item.text for item in items]).labels  # type: ignore[arg-type]
    assert accuracy(predicted, items) == pytest.approx(0.75)


SPEC = ModelSpec("m", "m", "model:M", Path("."), "accuracy")


@pytest.mark.parametrize(
    ("challenger", "champion", "promoted", "said"),
    [
        ({"accuracy": 0.9}, {"accuracy": 0.8}, True, "not enough human held-out labels"),
        (
            {"accuracy": 0.9, HUMAN_ACCURACY: 0.7, HUMAN_HELD_OUT: 40},
            {"accuracy": 0.8, HUMAN_ACCURACY: 0.7, HUMAN_HELD_OUT: 40},
            True,
            "0.7000 -> 0.7000 on 40 labels",
        ),
        (
            {"accuracy": 0.9, HUMAN_ACCURACY: 0.6, HUMAN_HELD_OUT: 40},
            {"accuracy": 0.8, HUMAN_ACCURACY: 0.7, HUMAN_HELD_OUT: 40},
            False,
            "(falls)",
        ),
        (
            {"accuracy": 0.81, HUMAN_ACCURACY: 0.9, HUMAN_HELD_OUT: 40},
            {"accuracy": 0.8, HUMAN_ACCURACY: 0.7, HUMAN_HELD_OUT: 40},
            False,
            "required margin +0.0500",
        ),
    ],
)
def test_a_challenger_is_promoted_only_if_it_gains_the_margin_and_people_do_not_find_it_worse(
    challenger: dict[str, float], champion: dict[str, float], promoted: bool, said: str
) -> None:
    decision, reason = decide(SPEC, 0.05, challenger, champion)
    assert decision is promoted
    assert said in reason
