"""The sync's rules on fakes: what a task looks like, what counts as a label, the run lock."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
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


class RecordingStore:
    """Holds the watermark and records what the pull applies; nothing is pending or to choose."""

    def __init__(self, pulled_until: datetime | None) -> None:
        self.watermark = pulled_until
        self.applied: list[tuple[int, datetime]] = []

    @contextmanager
    def exclusive(self, model: str) -> Iterator[bool]:
        yield True

    def choose(self, *args: Any) -> dict[str, int]:
        return {}

    def pending(self, project_id: int) -> list[Candidate]:
        return []

    def pulled_until(self, project_id: int) -> datetime | None:
        return self.watermark

    def apply(self, model: str, project_id: int, tasks: Any, settled: datetime) -> tuple[int, int]:
        self.applied.append((len(tasks), settled))
        newest = min(max(t.updated_at for t in tasks), settled) if tasks else settled
        self.watermark = max(self.watermark or newest, newest)
        return 0, 0


class OneChangedTask:
    def __init__(self) -> None:
        self.asked_since: list[datetime] = []

    def ensure_project(self, title: str, label_config: str) -> int:
        return 1

    def annotators(self) -> dict[int, str]:
        return {}

    def tasks_changed_since(self, project_id: int, since: datetime) -> Iterator[dict[str, Any]]:
        self.asked_since.append(since)
        yield {"id": 1, "updated_at": "2026-11-25T08:00:00.000000Z", "data": {}, "annotations": []}


def test_the_watermark_stays_a_minute_behind_the_run_and_moves_on_when_nothing_changed() -> None:
    now = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    board, store = OneChangedTask(), RecordingStore(None)
    settings = SyncSettings(pull_overlap=timedelta(minutes=1))
    sync_model(board, store, "sentiment", ("a", "b"), settings, now)  # type: ignore[arg-type]
    assert board.asked_since == [datetime(1970, 1, 1, tzinfo=UTC)]
    settled = now - timedelta(minutes=1)
    assert store.applied == [(1, settled), (0, settled)]  # the change, then "nothing older is left"
    assert store.watermark == settled  # not the task's own 08:00, so the next run does not re-read it

    later = now + timedelta(minutes=10)
    sync_model(board, store, "sentiment", ("a", "b"), settings, later)  # type: ignore[arg-type]
    assert board.asked_since[-1] == settled  # only what changed since the last run's settled time
