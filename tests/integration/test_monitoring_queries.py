"""The monitoring queries against real PostgreSQL: windows, versions, figures, samples, one run per window."""

from __future__ import annotations

import statistics
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, insert, select

from inference_core.db import monitoring
from inference_core.db.monitoring import MetricRecord, RunRecord
from inference_core.db.schema import annotation_tasks, inference_requests, labels, monitoring_metrics, monitoring_runs
from support.annotation import store_answers

pytestmark = pytest.mark.integration

START = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
END = START + timedelta(hours=1)


def add(
    engine: Engine, version: str, at: datetime, status: str = "succeeded", queue_ms: int = 10, model_ms: int = 5
) -> None:
    created = at - timedelta(milliseconds=queue_ms + model_ms)
    with engine.begin() as conn:
        conn.execute(
            insert(inference_requests).values(
                id=uuid.uuid4(),
                action="sentiment",
                input_text=f"text at {at.isoformat()}",
                request_fingerprint="f",
                status=status,
                model_name="sentiment",
                model_version=version,
                result={"label": "positive", "confidence": 0.9} if status == "succeeded" else None,
                created_at=created,
                started_at=created + timedelta(milliseconds=queue_ms),
                completed_at=at,
            )
        )


def test_a_window_holds_its_finished_requests_per_version_and_its_figures_are_exact(engine: Engine) -> None:
    queue_ms = [10, 20, 30, 40, 1000]
    for i, wait in enumerate(queue_ms):
        add(engine, "1", START + timedelta(minutes=i), queue_ms=wait, model_ms=5 * (i + 1))
    add(engine, "1", START + timedelta(minutes=30), status="failed", queue_ms=50, model_ms=50)
    add(engine, "2", START + timedelta(minutes=40))
    add(engine, "1", START - timedelta(seconds=1))  # before the window
    add(engine, "1", END)  # the window is [start, end)

    with engine.connect() as conn:
        assert monitoring.versions_in_window(conn, "sentiment", START, END) == ["1", "2"]
        figures = monitoring.operations(conn, "sentiment", "1", START, END)
        rows = monitoring.succeeded_rows(conn, "sentiment", "1", START, END, limit=100)
    waits = [*queue_ms, 50]
    assert (figures.requests, figures.failed) == (6, 1)
    assert figures.failure_rate == pytest.approx(1 / 6)
    assert figures.queue_p50_ms == pytest.approx(statistics.median(waits), abs=0.01)
    assert figures.queue_p95_ms == pytest.approx(statistics.quantiles(waits, n=20, method="inclusive")[-1], abs=0.01)
    assert figures.model_p50_ms == pytest.approx(statistics.median([5, 10, 15, 20, 25, 50]), abs=0.01)
    assert len(rows) == 5 and all(r.result["label"] == "positive" for r in rows)


def test_a_sample_of_a_busy_window_is_stable(engine: Engine) -> None:
    for i in range(40):
        add(engine, "1", START + timedelta(seconds=i))
    with engine.connect() as conn:
        first = [r.request_id for r in monitoring.succeeded_rows(conn, "sentiment", "1", START, END, limit=10)]
        again = [r.request_id for r in monitoring.succeeded_rows(conn, "sentiment", "1", START, END, limit=10)]
    assert len(first) == 10 and first == again


def test_a_window_is_stored_once_however_often_it_is_run(engine: Engine) -> None:
    def run(status: str) -> RunRecord:
        return RunRecord("sentiment", "1", START, END, "version", status, 6, 5, 400, START, END)

    with engine.begin() as conn:
        monitoring.replace_run(conn, run("failed"), [MetricRecord("operations", "requests", 6.0)])
    with engine.begin() as conn:
        run_id = monitoring.replace_run(
            conn,
            run("ok"),
            [MetricRecord("drift", "label", 0.01, method="jensenshannon", threshold=0.1, drifted=False)],
        )
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(monitoring_runs)).scalar_one() == 1
        assert conn.execute(select(func.count()).select_from(monitoring_metrics)).scalar_one() == 1
        [stored] = monitoring.list_runs(conn, model="sentiment")
        assert (stored.id, stored.status) == (run_id, "ok")
        assert monitoring.list_runs(conn, status="failed") == []
        assert monitoring.list_runs(conn, since=END) == []
        [metric] = monitoring.run_metrics(conn, [run_id])[run_id]
        assert (metric.metric, metric.method, metric.threshold, metric.drifted) == (
            "label",
            "jensenshannon",
            0.1,
            False,
        )


def test_labelled_answers_take_the_latest_annotation_and_the_clients_label_of_each_request(engine: Engine) -> None:
    ids = store_answers(engine, [0.6, 0.7, 0.9, 0.65], completed_at=START + timedelta(minutes=5))
    late = store_answers(engine, [0.6], completed_at=END)  # outside the window
    with engine.begin() as conn:
        conn.execute(
            insert(annotation_tasks),
            [
                {"request_id": ids[0], "model": "sentiment", "project_id": 1, "sampling": "random", "task_id": 1},
                {"request_id": ids[1], "model": "sentiment", "project_id": 1, "sampling": "uncertainty", "task_id": 2},
                {"request_id": late[0], "model": "sentiment", "project_id": 1, "sampling": "random", "task_id": 3},
            ],
        )
        earlier, later = START + timedelta(hours=2), START + timedelta(hours=3)

        def label(request_id: uuid.UUID, human: str, annotation_id: int | None = None, at: datetime = later) -> dict:
            source = "client" if annotation_id is None else "annotation"
            return {
                "request_id": request_id,
                "source": source,
                "label": human,
                "annotation_id": annotation_id,
                "updated_at": at,
            }

        conn.execute(
            insert(labels),
            [
                label(ids[0], "negative", 1, earlier),
                label(ids[0], "positive", 2),
                label(ids[1], "negative", 3),
                label(ids[1], "positive"),
                label(ids[2], "positive"),
                label(late[0], "negative", 4),
            ],
        )
    with engine.connect() as conn:
        found = monitoring.labelled_answers(conn, "sentiment", "1", START, END)
    assert sorted((ids.index(a.request_id), a.predicted, a.human, a.sampling) for a in found) == [
        (0, "negative", "positive", "random"),  # the later of two annotations
        (1, "negative", "negative", "uncertainty"),
        (1, "negative", "positive", "client"),
        (2, "positive", "positive", "client"),
    ]
