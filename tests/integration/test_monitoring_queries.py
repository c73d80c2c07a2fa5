"""The monitoring queries against real PostgreSQL: windows, versions, figures, samples, one run per window."""

from __future__ import annotations

import statistics
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, insert, select

from inference_core.db import monitoring
from inference_core.db.monitoring import MetricRecord, RunRecord
from inference_core.db.schema import inference_requests, monitoring_metrics, monitoring_runs

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
