"""The sync's rules on fakes: what a task looks like, what counts as a label, the run lock."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from annotation.labelling import Candidate, label_config, read_task, task
from annotation.sync import SyncSettings, newest_version, sync_model


def test_the_labelling_config_offers_exactly_the_label_set_escaped() -> None:
    config = label_config(["negative", 'say "hi" & <go>'])
    assert '<Choice value="negative"/>' in config
    assert "<Choice value='say \"hi\" &amp; &lt;go&gt;'/>" in config
    assert 'choice="single"' in config


def test_a_task_carries_the_request_and_the_models_answer_as_a_scored_prediction() -> None:
    request_id = uuid.uuid4()
    built = task(Candidate(request_id, "meh", "negative", 0.52, "7", "random"))
    assert built["data"] == {"text": "meh", "request_id": str(request_id), "sampling": "random"}
    [prediction] = built["predictions"]
    assert (prediction["model_version"], prediction["score"]) == ("7", 0.52)
    assert prediction["result"][0]["value"] == {"choices": ["negative"]}


def annotation(annotation_id: int, choices: list[str], cancelled: bool = False, by: Any = 3) -> dict[str, Any]:
    result = [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": choices}}]
    stamp = "2026-11-25T08:53:56.387349Z"
    return {
        "id": annotation_id,
        "result": result,
        "was_cancelled": cancelled,
        "completed_by": by,
        "created_at": stamp,
        "updated_at": stamp,
    }


def test_only_submitted_annotations_choosing_one_known_label_are_labels() -> None:
    request_id = uuid.uuid4()
    raw = {
        "id": 9,
        "updated_at": "2026-11-25T08:53:58.870357Z",
        "data": {"request_id": str(request_id)},
        "annotations": [
            annotation(1, ["positive"]),
            annotation(2, ["positive"], cancelled=True),  # skipped
            annotation(3, ["neutral"]),  # not one of the model's labels
            annotation(4, []),  # nothing chosen
            annotation(5, ["negative"], by={"id": 4, "email": "b@x"}),
        ],
    }
    read = read_task(raw, ("negative", "positive"), {3: "a@x"})
    assert read.request_id == request_id and read.task_id == 9
    assert [(label.annotation_id, label.label, label.annotator) for label in read.labels] == [
        (1, "positive", "a@x"),
        (5, "negative", "b@x"),
    ]
    assert read_task({**raw, "data": {"request_id": "nope"}}, ()).request_id is None


def test_versions_compare_as_numbers() -> None:
    assert newest_version(["9", "10", "2"]) == "10"


class LockedStore:
    """Another run holds the model's lock."""

    @contextmanager
    def exclusive(self, model: str) -> Iterator[bool]:
        yield False

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a run without the lock called {name}")


class UntouchableBoard:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a run without the lock called Label Studio's {name}")


def test_a_run_that_cannot_take_the_models_lock_touches_nothing() -> None:
    result = sync_model(
        UntouchableBoard(),
        LockedStore(),
        "sentiment",
        ("a", "b"),
        SyncSettings(),
        datetime.now(UTC),  # type: ignore[arg-type]
    )
    assert result.skipped


def test_the_random_slice_is_its_share_of_what_is_sent_and_at_least_one_task() -> None:
    settings = SyncSettings(max_tasks=100, random_fraction=0.1)
    assert settings.split(5000) == (10, 90)  # capped
    assert settings.split(6) == (1, 5)  # few candidates: most still go least confident first
    assert settings.split(0) == (0, 0)
    assert SyncSettings(max_tasks=100, random_fraction=0).split(50) == (0, 50)
