"""The dispatcher's apply step against real PostgreSQL: a batch of workers' events in one transaction,
each request finished once, whatever the order, the duplicates or the dispatchers beside it."""

from __future__ import annotations

import random
import threading
import uuid
from uuid import UUID

import pytest
from sqlalchemy import Engine, func, select

from gateway import handlers, store
from gateway.validation import SubmitInference
from inference_core.db.schema import inference_requests, outbox
from inference_core.events import (
    EventType,
    InferenceBatchStarted,
    InferenceCompleted,
    InferenceStarted,
    encode,
    utcnow,
)
from support.fakes import raw_message

pytestmark = pytest.mark.integration

ACTION = "act"


def submitted(engine: Engine, count: int) -> list[UUID]:
    with engine.begin() as conn:
        store.register_action(conn, ACTION, "m")
    return [handlers.submit(engine, SubmitInference(ACTION, f"t{i}", {}, None)).request_id for i in range(count)]


def outcome(request_id: UUID, status: str = "succeeded", result: object = None) -> InferenceCompleted:
    return InferenceCompleted(
        request_id=request_id,
        action=ACTION,
        status=status,  # type: ignore[arg-type]
        model_name="m",
        model_version="1",
        result={"label": "positive"} if result is None and status == "succeeded" else result,  # type: ignore[arg-type]
        completed_at=utcnow(),
    )


def started(request_ids: list[UUID]) -> InferenceBatchStarted:
    return InferenceBatchStarted(
        request_ids=request_ids, action=ACTION, model_name="m", model_version="1", started_at=utcnow()
    )


def statuses(engine: Engine) -> dict[UUID, str]:
    with engine.connect() as conn:
        return dict(conn.execute(select(inference_requests.c.id, inference_requests.c.status)).all())  # type: ignore[arg-type]


def job_completed_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(select(func.count()).where(outbox.c.event_type == EventType.JOB_COMPLETED.value)).scalar_one()
        )


def test_a_batch_finishes_each_request_once_with_one_job_completed_each(engine: Engine) -> None:
    a, b, c = submitted(engine, 3)
    batch = [outcome(a), outcome(b), outcome(a), outcome(c, "failed"), outcome(c)]
    with engine.begin() as conn:
        handlers.apply_events(conn, batch)
    assert statuses(engine) == {a: "succeeded", b: "succeeded", c: "succeeded"}, "a success wins over a failure"
    assert job_completed_count(engine) == 3

    with engine.begin() as conn:  # the whole batch delivered again
        handlers.apply_events(conn, batch)
    assert job_completed_count(engine) == 3


def test_started_moves_only_queued_requests_and_old_single_events_still_apply(engine: Engine) -> None:
    done, waiting, old_style = submitted(engine, 3)
    with engine.begin() as conn:
        handlers.apply_events(conn, [outcome(done)])
    started_event = InferenceStarted(
        request_id=old_style, action=ACTION, model_name="m", model_version="1", started_at=utcnow()
    )
    with engine.begin() as conn:
        handlers.apply_events(conn, [started([done, waiting]), started_event])
    assert statuses(engine) == {done: "succeeded", waiting: "running", old_style: "running"}


def test_an_unreadable_or_unstorable_event_fails_alone(engine: Engine) -> None:
    good, poisoned = submitted(engine, 2)
    messages = [
        raw_message(encode(outcome(good)).body),
        raw_message("{not json"),
        # PostgreSQL's jsonb refuses a NUL character: the whole batch fails, so each event is applied alone.
        raw_message(encode(outcome(poisoned, result={"text": "a\x00b"})).body),
    ]
    failures = handlers.apply_worker_events(engine, messages)
    assert set(failures) == {messages[1].message_id, messages[2].message_id}
    assert statuses(engine) == {good: "succeeded", poisoned: "queued"}
    assert job_completed_count(engine) == 1


def test_dispatchers_side_by_side_with_overlapping_batches_neither_deadlock_nor_finish_twice(engine: Engine) -> None:
    ids = submitted(engine, 60)
    errors: list[Exception] = []

    def dispatcher(seed: int) -> None:
        shuffled = random.Random(seed).sample(ids, len(ids))
        try:
            for start in range(0, len(shuffled), 20):
                chunk = shuffled[start : start + 20]
                with engine.begin() as conn:
                    handlers.apply_events(conn, [started(chunk), *[outcome(i) for i in chunk]])
        except Exception as exc:  # a deadlock is an error PostgreSQL raises after deadlock_timeout
            errors.append(exc)

    threads = [threading.Thread(target=dispatcher, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert set(statuses(engine).values()) == {"succeeded"}
    assert job_completed_count(engine) == len(ids)


def test_an_outcome_for_an_unknown_request_changes_nothing(engine: Engine) -> None:
    (known,) = submitted(engine, 1)
    with engine.begin() as conn:
        handlers.apply_events(conn, [outcome(uuid.uuid4())])
    assert statuses(engine) == {known: "queued"}
    assert job_completed_count(engine) == 0
