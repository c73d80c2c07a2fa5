"""The dispatcher's apply step against real PostgreSQL: a batch of workers' events in one transaction,
each request finished once, whatever the order, the duplicates or the dispatchers beside it."""

from __future__ import annotations

import random
import threading
import uuid
from datetime import timedelta
from uuid import UUID

import pytest
from pydantic_core import to_json
from sqlalchemy import Engine, func, select

from gateway import handlers, store
from gateway.store import SqlTransaction, SqlUnitOfWork
from gateway.unit_of_work import Caller
from gateway.validation import SubmitInference
from inference_core.aws.s3 import S3Store
from inference_core.db.schema import inference_requests, outbox
from inference_core.events import (
    EventType,
    InferenceBatchCompleted,
    InferenceBatchStarted,
    InferenceCompleted,
    InferenceRequested,
    InferenceStarted,
    ResultRef,
    encode,
    utcnow,
)
from model_runtime.features import FeatureStore
from model_runtime.worker import InferenceWorker, ModelSlot, ServedModel
from support.fakes import EchoModel, FakeFeatureSink, FakePublisher, raw_message
from support.stack import Stack

pytestmark = pytest.mark.integration

TENANT = "acme"

ACTION = "act"


def submitted(engine: Engine, count: int) -> list[UUID]:
    with engine.begin() as conn:
        store.create_tenant(conn, TENANT, None)
        store.register_action(conn, ACTION, "m")
    uow = SqlUnitOfWork(engine)
    return [
        handlers.submit(uow, Caller(TENANT, 1), SubmitInference(ACTION, f"t{i}", {}, None), tokens=1).request_id
        for i in range(count)
    ]


def outcome(
    request_id: UUID, status: str = "succeeded", result: object = None, result_ref: ResultRef | None = None
) -> InferenceCompleted:
    inline = result is None and status == "succeeded" and result_ref is None
    return InferenceCompleted(
        request_id=request_id,
        action=ACTION,
        status=status,  # type: ignore[arg-type]
        model_name="m",
        model_version="1",
        result={"label": "positive"} if inline else result,  # type: ignore[arg-type]
        result_ref=result_ref,
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
        handlers.apply_events(SqlTransaction(conn), batch)
    assert statuses(engine) == {a: "succeeded", b: "succeeded", c: "succeeded"}, "a success wins over a failure"
    assert job_completed_count(engine) == 3

    with engine.begin() as conn:  # the whole batch delivered again
        handlers.apply_events(SqlTransaction(conn), batch)
    assert job_completed_count(engine) == 3


def test_started_moves_only_queued_requests_and_old_single_events_still_apply(engine: Engine) -> None:
    done, waiting, old_style = submitted(engine, 3)
    with engine.begin() as conn:
        handlers.apply_events(SqlTransaction(conn), [outcome(done)])
    started_event = InferenceStarted(
        request_id=old_style, action=ACTION, model_name="m", model_version="1", started_at=utcnow()
    )
    with engine.begin() as conn:
        handlers.apply_events(SqlTransaction(conn), [started([done, waiting]), started_event])
    assert statuses(engine) == {done: "succeeded", waiting: "running", old_style: "running"}


def test_an_unreadable_or_unstorable_event_fails_alone(engine: Engine) -> None:
    good, poisoned = submitted(engine, 2)
    messages = [
        raw_message(encode(outcome(good)).body),
        raw_message("{not json"),
        # PostgreSQL's jsonb refuses a NUL character: the whole batch fails, so each event is applied alone.
        raw_message(encode(outcome(poisoned, result={"text": "a\x00b"})).body),
    ]
    failures = handlers.apply_worker_events(SqlUnitOfWork(engine), FakeFeatureSink(), messages)
    assert set(failures) == {messages[1].message_id, messages[2].message_id}
    assert statuses(engine) == {good: "succeeded", poisoned: "queued"}
    assert job_completed_count(engine) == 1


def test_a_batch_of_outcomes_in_one_message_is_applied_and_an_unstorable_one_fails_only_its_message(
    engine: Engine,
) -> None:
    a, b, c, d, e = submitted(engine, 5)
    whole = raw_message(encode(InferenceBatchCompleted(action=ACTION, outcomes=[outcome(a), outcome(b)])).body)
    poisoned = raw_message(
        encode(
            InferenceBatchCompleted(action=ACTION, outcomes=[outcome(c), outcome(d, result={"text": "a\x00b"})])
        ).body
    )
    single = raw_message(encode(outcome(e)).body)  # from a worker that predates batches of answers
    failures = handlers.apply_worker_events(SqlUnitOfWork(engine), FakeFeatureSink(), [whole, poisoned, single])
    assert set(failures) == {poisoned.message_id}  # retried: its stored neighbour is then a duplicate
    assert statuses(engine) == {a: "succeeded", b: "succeeded", c: "succeeded", d: "queued", e: "succeeded"}
    assert job_completed_count(engine) == 4

    retried = handlers.apply_worker_events(SqlUnitOfWork(engine), FakeFeatureSink(), [poisoned])
    assert set(retried) == {poisoned.message_id}
    assert job_completed_count(engine) == 4, "the retry finishes nothing twice"


def test_results_by_reference_are_read_once_per_object_and_stored_in_postgresql(engine: Engine) -> None:
    first, second, lost, short = submitted(engine, 4)
    objects = FakeFeatureSink()
    uri = objects.save_results("m", "1", to_json([{"embedding": [0.25, -1.0]}, {"embedding": [0.5, 2.0]}]))
    messages = [
        raw_message(encode(outcome(first, result_ref=ResultRef(uri=uri, row=0))).body),
        raw_message(encode(outcome(second, result_ref=ResultRef(uri=uri, row=1))).body),
        raw_message(encode(outcome(lost, result_ref=ResultRef(uri="s3://fake/gone.json", row=0))).body),
        raw_message(encode(outcome(short, result_ref=ResultRef(uri=uri, row=2))).body),
    ]
    failures = handlers.apply_worker_events(SqlUnitOfWork(engine), objects, messages)
    assert set(failures) == {messages[2].message_id, messages[3].message_id}  # retried, then dead-lettered
    assert objects.reads == [uri, "s3://fake/gone.json"]
    with engine.connect() as conn:
        results = dict(conn.execute(select(inference_requests.c.id, inference_requests.c.result)).all())
    assert results == {first: {"embedding": [0.25, -1.0]}, second: {"embedding": [0.5, 2.0]}, lost: None, short: None}
    assert statuses(engine) == {first: "succeeded", second: "succeeded", lost: "queued", short: "queued"}


def test_dispatchers_side_by_side_with_overlapping_batches_neither_deadlock_nor_finish_twice(engine: Engine) -> None:
    ids = submitted(engine, 60)
    errors: list[Exception] = []

    def dispatcher(seed: int) -> None:
        shuffled = random.Random(seed).sample(ids, len(ids))
        try:
            for start in range(0, len(shuffled), 20):
                chunk = shuffled[start : start + 20]
                with engine.begin() as conn:
                    handlers.apply_events(SqlTransaction(conn), [started(chunk), *[outcome(i) for i in chunk]])
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
        handlers.apply_events(SqlTransaction(conn), [outcome(uuid.uuid4())])
    assert statuses(engine) == {known: "queued"}
    assert job_completed_count(engine) == 0


def test_a_worker_batch_answered_by_reference_through_real_s3_is_stored_whole(engine: Engine, stack: Stack) -> None:
    ids = submitted(engine, 3)
    bucket = f"results-{uuid.uuid4().hex[:8]}"
    s3 = stack.client("s3")
    s3.create_bucket(Bucket=bucket)
    objects = S3Store(s3, bucket)
    publisher = FakePublisher()
    worker = InferenceWorker(
        ModelSlot(ServedModel("m", "1", ACTION, EchoModel())),
        publisher,
        FeatureStore(objects),
        None,
        inline_results_bytes=0,  # every batch by reference
    )
    requests = [
        raw_message(encode(InferenceRequested(request_id=i, action=ACTION, text="x" * n, submitted_at=utcnow())).body)
        for n, i in enumerate(ids, start=1)
    ]
    assert worker.handle(requests) == {}
    answers = [m for m in publisher.sent if m.attributes["event_type"] == EventType.INFERENCE_BATCH_RESPONSE.value]
    assert len(answers) == 1 and answers[0].body.count('"result_ref"') == 3

    assert handlers.apply_worker_events(SqlUnitOfWork(engine), objects, [raw_message(m.body) for m in answers]) == {}
    with engine.connect() as conn:
        results = dict(conn.execute(select(inference_requests.c.id, inference_requests.c.result)).all())
    assert results == {i: {"length": n} for n, i in enumerate(ids, start=1)}


def test_an_answer_that_was_never_announced_as_started_keeps_the_start_it_carries(engine: Engine) -> None:
    carried, announced, old_worker = submitted(engine, 3)
    began = utcnow() - timedelta(seconds=2)
    with engine.begin() as conn:
        handlers.apply_events(SqlTransaction(conn), [started([announced])])
    with engine.begin() as conn:
        handlers.apply_events(
            SqlTransaction(conn),
            [
                outcome(carried).model_copy(update={"started_at": began}),
                outcome(announced).model_copy(update={"started_at": began}),
                outcome(old_worker),
            ],
        )
    with engine.connect() as conn:
        rows = {row.id: row for row in conn.execute(select(inference_requests)).all()}
    assert rows[carried].started_at == began
    assert began < rows[announced].started_at < rows[announced].completed_at  # the announcement came first
    assert rows[old_worker].started_at == rows[old_worker].completed_at


def test_a_requests_trace_is_stored_with_it_and_returned_when_it_finishes(engine: Engine) -> None:
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with engine.begin() as conn:
        store.create_tenant(conn, TENANT, None)
        store.register_action(conn, ACTION, "m")
    uow = SqlUnitOfWork(engine)
    command = SubmitInference(ACTION, "traced", {}, None)
    request_id = handlers.submit(uow, Caller(TENANT, 1), command, 1, traceparent).request_id
    with engine.connect() as conn:
        (attributes,) = conn.execute(
            select(outbox.c.attributes).where(outbox.c.event_type == EventType.INFERENCE_REQUEST.value)
        ).one()
    assert attributes["traceparent"] == traceparent  # the message attribute tracers look for
    with uow.transaction() as tx:
        (finished,) = tx.record_outcomes([outcome(request_id)])
    assert finished.traceparent == traceparent and finished.submitted_at is not None
