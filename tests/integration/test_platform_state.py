"""What the dispatcher's metrics read from PostgreSQL at a scrape: the outbox's backlog, each action's
latest heartbeat, each model's latest drift verdict, each action's requests waiting for an answer."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, insert, update

from gateway import store
from inference_core.db.outbox import enqueue_many
from inference_core.db.schema import inference_requests, model_actions, monitoring_runs
from inference_core.events import InferenceRequested, utcnow

pytestmark = pytest.mark.integration


def run(model: str, version: str, status: str, hours_ago: int) -> dict[str, object]:
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours_ago)
    return {
        "id": uuid.uuid4(),
        "model": model,
        "model_version": version,
        "window_start": end - timedelta(hours=1),
        "window_end": end,
        "reference": "version",
        "status": status,
        "requests": 100,
        "judged_rows": 100,
        "reference_rows": 300,
        "started_at": end,
        "finished_at": end,
    }


def request(action: str, status: str, minutes_ago: float) -> dict[str, object]:
    return {
        "id": uuid.uuid4(),
        "action": action,
        "input_text": "t",
        "request_fingerprint": uuid.uuid4().hex,
        "status": status,
        "created_at": datetime.now(UTC) - timedelta(minutes=minutes_ago),
    }


def test_the_state_reports_backlog_heartbeats_and_the_latest_verdict_of_each_model(engine: Engine) -> None:
    with engine.begin() as conn:
        assert store.platform_state(conn).outbox_pending == 0
        store.register_action(conn, "sentiment", "sentiment")
        store.register_action(conn, "embed", "embedding")
        conn.execute(
            update(model_actions)
            .where(model_actions.c.action == "embed")
            .values(last_seen_at=datetime.now(UTC) - timedelta(seconds=30))
        )
        events = [
            InferenceRequested(request_id=uuid.uuid4(), action="embed", text="t", submitted_at=utcnow())
            for _ in range(3)
        ]
        enqueue_many(conn, events)
        conn.execute(
            insert(monitoring_runs),
            [
                run("sentiment", "3", "drift", hours_ago=2),
                run("sentiment", "4", "ok", hours_ago=1),
                run("sentiment", "4", "failed", hours_ago=0),  # no verdict: the one before stands
                run("embedding", "1", "drift", hours_ago=1),
            ],
        )
        conn.execute(
            insert(inference_requests),
            [
                request("embed", "queued", minutes_ago=5),
                request("embed", "running", minutes_ago=1),
                request("embed", "succeeded", minutes_ago=60),  # finished: not waiting
                request("sentiment", "expired", minutes_ago=60),
            ],
        )
    with engine.connect() as conn:
        state = store.platform_state(conn)
    assert state.outbox_pending == 3 and 0 <= state.outbox_oldest_seconds < 60
    assert state.heartbeat_age_seconds[("sentiment", "sentiment")] == math.inf  # never announced
    assert 29 <= state.heartbeat_age_seconds[("embed", "embedding")] < 90
    assert sorted(state.latest_verdicts) == [("embedding", "1", True), ("sentiment", "4", False)]
    assert state.unfinished.keys() == {"embed"}
    count, oldest = state.unfinished["embed"]
    assert count == 2 and 5 * 60 - 5 <= oldest < 5 * 60 + 60
