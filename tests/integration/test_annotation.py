"""The annotation sync against a real Label Studio server and a real PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from annotation import label_studio as label_studio_api
from annotation.label_studio import LabelStudio, LabelStudioUnavailable
from annotation.store import PostgresAnnotations
from annotation.sync import SyncSettings, sync_model
from sqlalchemy import Engine, select

from devstack import free_port
from inference_core.db.schema import annotation_tasks, labels
from support.annotation import LABELS, Annotator, store_answers
from support.stack import LabelStudioServer

pytestmark = pytest.mark.integration


@pytest.fixture
def board(label_studio: LabelStudioServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[LabelStudio]:
    monkeypatch.setattr(label_studio_api, "PAGE_SIZE", 3)  # listings of a few tasks take several pages
    client = LabelStudio(label_studio.url, label_studio.api_key)
    yield client
    client.close()


@pytest.fixture
def annotator(label_studio: LabelStudioServer) -> Annotator:
    return Annotator(label_studio.url, label_studio.api_key)


@pytest.fixture
def settings() -> SyncSettings:
    """A project of the test's own in the session's Label Studio."""
    return SyncSettings(max_tasks=10, random_fraction=0.2, project_prefix=f"t{uuid.uuid4().hex[:8]}-")


def sync(board: Any, engine: Engine, settings: SyncSettings) -> Any:
    return sync_model(board, PostgresAnnotations(engine), "sentiment", LABELS, settings, datetime.now(UTC))


def sent(engine: Engine) -> dict[uuid.UUID, Any]:
    with engine.connect() as conn:
        return {row.request_id: row for row in conn.execute(select(annotation_tasks))}


def stored_labels(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(labels).order_by(labels.c.id)))


def test_the_least_confident_go_first_with_a_flagged_random_slice_capped_and_each_sent_once(
    engine: Engine, board: LabelStudio, annotator: Annotator, settings: SyncSettings
) -> None:
    confidences = [0.5 + i / 100 for i in range(40)]  # 0.50 .. 0.89
    ids = store_answers(engine, confidences)
    old = store_answers(engine, [0.51], completed_at=datetime.now(UTC) - timedelta(days=30))  # outside the lookback

    first = sync(board, engine, settings)

    assert (first.pushed, first.uncertainty, first.random) == (10, 8, 2)
    rows = sent(engine)
    assert all(row.task_id is not None for row in rows.values())
    uncertain = sorted(r for r in rows if rows[r].sampling == "uncertainty")
    chosen_at_random = [r for r in rows if rows[r].sampling == "random"]
    rest = [r for r in ids if r not in chosen_at_random]
    assert uncertain == sorted(rest[:8])  # the 8 least confident of what the random slice left
    assert old[0] not in rows

    tasks = {t["data"]["request_id"]: t for t in annotator.tasks(first.project_id)}
    assert len(tasks) == 10
    task = tasks[str(ids[0])]
    assert task["data"]["sampling"] in ("uncertainty", "random")
    [prediction] = task["predictions"]
    assert prediction["model_version"] == "1"
    assert prediction["score"] == pytest.approx(0.5)
    assert prediction["result"][0]["value"]["choices"] == ["negative"]
    project = annotator.project(first.project_id)
    assert project["model_version"] == "1"  # so Label Studio's uncertainty ordering uses these predictions
    assert '<Choice value="positive"/>' in project["label_config"]

    second = sync(board, engine, settings)
    assert second.project_id == first.project_id  # the project is found, not created again
    assert (second.pushed, len(sent(engine))) == (10, 20)  # ten more, none of the first ten again
    assert len(annotator.tasks(first.project_id)) == 20
    task_requests = [t["data"]["request_id"] for t in annotator.tasks(first.project_id)]
    assert len(set(task_requests)) == 20  # no request went twice


def test_labels_follow_label_studio_created_edited_deleted_and_pulled_twice_once(
    engine: Engine, board: LabelStudio, annotator: Annotator, settings: SyncSettings
) -> None:
    ids = store_answers(engine, [0.55, 0.6, 0.65])
    project_id = sync(board, engine, settings).project_id
    first, second, third = (annotator.task_of(project_id, i)["id"] for i in ids)
    annotation = annotator.label(first, "positive")
    annotator.label(second, "negative")
    annotator.skip(third)  # skipped: no label

    pulled = sync(board, engine, settings)

    assert (pulled.pulled_tasks, pulled.labels_stored, pulled.labels_removed) == (3, 2, 0)
    rows = stored_labels(engine)
    assert [(r.request_id, r.label, r.source) for r in rows] == [
        (ids[0], "positive", "annotation"),
        (ids[1], "negative", "annotation"),
    ]
    assert rows[0].annotator == "admin@localhost" and rows[0].annotation_id == annotation

    again = sync(board, engine, settings)  # the watermark's overlap reads the same changes again
    assert again.labels_stored == 0 and stored_labels(engine) == rows

    annotator.relabel(annotation, "negative")
    sync(board, engine, settings)
    assert [(r.request_id, r.label) for r in stored_labels(engine)] == [(ids[0], "negative"), (ids[1], "negative")]

    annotator.delete(annotation)
    removed = sync(board, engine, settings)
    assert removed.labels_removed == 1
    assert [r.request_id for r in stored_labels(engine)] == [ids[1]]


class ImportThenFail:
    """Label Studio creates the tasks but the answer never arrives (a timeout, the job killed)."""

    def __init__(self, board: LabelStudio) -> None:
        self._board = board

    def __getattr__(self, name: str) -> Any:
        return getattr(self._board, name)

    def import_tasks(self, project_id: int, tasks: Sequence[Mapping[str, Any]]) -> list[int]:
        self._board.import_tasks(project_id, tasks)
        raise LabelStudioUnavailable("the answer to the import was lost")


def test_label_studio_down_loses_nothing_and_sends_nothing_twice(
    engine: Engine, board: LabelStudio, annotator: Annotator, settings: SyncSettings, label_studio: LabelStudioServer
) -> None:
    ids = store_answers(engine, [0.6, 0.7, 0.8])
    down = LabelStudio(f"http://127.0.0.1:{free_port()}", label_studio.api_key, timeout_seconds=2)
    with pytest.raises(LabelStudioUnavailable, match="unreachable"):
        sync(down, engine, settings)
    assert sent(engine) == {}  # nothing reserved while Label Studio cannot be reached

    with pytest.raises(LabelStudioUnavailable, match="lost"):
        sync(ImportThenFail(board), engine, settings)
    assert {r.task_id for r in sent(engine).values()} == {None}  # reserved, not confirmed

    back = sync(board, engine, settings)
    assert (back.recovered, back.pushed) == (3, 0)  # found in Label Studio, not imported again
    assert sorted(t["data"]["request_id"] for t in annotator.tasks(back.project_id)) == sorted(map(str, ids))
    assert None not in {r.task_id for r in sent(engine).values()}


def test_a_wrong_api_key_is_named(engine: Engine, label_studio: LabelStudioServer, settings: SyncSettings) -> None:
    store_answers(engine, [0.6])
    wrong = LabelStudio(label_studio.url, "not-the-key")
    with pytest.raises(LabelStudioUnavailable, match="LABEL_STUDIO_API_KEY"):
        sync(wrong, engine, settings)


def test_the_job_says_in_one_line_that_label_studio_is_down_and_exits_1(
    engine: Engine, fresh_database: str, label_studio: LabelStudioServer
) -> None:
    store_answers(engine, [0.6])
    env = {
        **os.environ,
        "DATABASE_URL": fresh_database,
        "LABEL_STUDIO_URL": f"http://127.0.0.1:{free_port()}",
        "LABEL_STUDIO_API_KEY": label_studio.api_key,
    }
    done = subprocess.run(
        [str(Path(sys.executable).parent / "annotation-sync"), "run"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("annotation-sync: Label Studio at http://127.0.0.1:") and "is unreachable" in line
    assert sent(engine) == {}
