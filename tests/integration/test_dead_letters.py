"""A model's dead letters against real SQS (LocalStack) and PostgreSQL: listed with their requests'
reasons without being consumed, and moved back, each after its request is queued again."""

from __future__ import annotations

import uuid
from uuid import UUID

import pytest
from sqlalchemy import Engine, select, update

from gateway import admin, handlers, store
from gateway.dead_letters import peek, redrive
from gateway.store import SqlFailedRequests, SqlUnitOfWork
from gateway.unit_of_work import Caller
from gateway.validation import SubmitInference
from inference_core.aws.provision import ModelRoute, provision
from inference_core.aws.sqs import SqsQueue
from inference_core.db.schema import inference_requests
from inference_core.events import InferenceRequested, encode, utcnow
from inference_core.settings import ResourceNames
from support.stack import Stack

pytestmark = pytest.mark.integration

REASON = "failed 3 times, last: ValueError: boom"


def queues(stack: Stack) -> tuple[ResourceNames, SqsQueue, SqsQueue]:
    names = ResourceNames(prefix=f"d{uuid.uuid4().hex[:6]}-")
    provision(stack.client("sns"), stack.client("sqs"), stack.client("s3"), names, [ModelRoute("m", "act")])
    sqs = stack.client("sqs")
    source = SqsQueue.named(sqs, names.model_queue("m"))
    return names, source, SqsQueue.named(sqs, names.dead_letter_queue(names.model_queue("m")))


def requests_in(engine: Engine, statuses: list[str]) -> list[UUID]:
    with engine.begin() as conn:
        store.register_action(conn, "act", "m")
        admin.create_tenant(conn, "acme", None)
    uow = SqlUnitOfWork(engine)
    ids = [
        handlers.submit(uow, Caller("acme", 1), SubmitInference("act", f"t{i}", {}, None), tokens=1).request_id
        for i in statuses
    ]
    with engine.begin() as conn:
        for request_id, status in zip(ids, statuses, strict=True):
            error = {"code": "processing_failed", "message": REASON} if status == "failed" else None
            conn.execute(
                update(inference_requests)
                .where(inference_requests.c.id == request_id)
                .values(status=status, error=error)
            )
    return ids


def body(request_id: UUID) -> str:
    return encode(InferenceRequested(request_id=request_id, action="act", text="t", submitted_at=utcnow())).body


def drain(queue: SqsQueue) -> list[str]:
    bodies = []
    while batch := queue.receive(10, 1):
        bodies += [m.body for m in batch]
        queue.delete(batch)
    return bodies


def status_of(engine: Engine, request_id: UUID) -> tuple[str, object]:
    with engine.connect() as conn:
        row = conn.execute(
            select(inference_requests.c.status, inference_requests.c.error).where(inference_requests.c.id == request_id)
        ).one()
    return row.status, row.error


def test_dead_letters_are_listed_with_their_reasons_and_moved_back_after_their_requests_are_queued(
    stack: Stack, engine: Engine
) -> None:
    _, source, dead = queues(stack)
    first, second, unfinished = requests_in(engine, ["failed", "failed", "queued"])
    bodies = {request_id: body(request_id) for request_id in (first, second, unfinished)}
    for sent in bodies.values():
        dead.send(sent)
    dead.send("not an event")
    failed_requests = SqlFailedRequests(engine)

    letters = peek(dead, failed_requests, limit=100)
    by_request = {letter.request_id: letter for letter in letters}
    assert set(by_request) == {first, second, unfinished, None}
    assert (by_request[first].status, by_request[first].reason) == ("failed", REASON)
    assert (by_request[unfinished].status, by_request[unfinished].reason) == ("queued", None)
    assert all(letter.sent_at is not None for letter in letters)
    assert len(peek(dead, failed_requests, limit=100)) == 4, "looking consumes nothing"

    one = redrive(dead, source, failed_requests, only={first})
    assert (one.moved, one.requeued, one.left) == (1, 1, 3)
    assert status_of(engine, first) == ("queued", None)
    assert status_of(engine, second)[0] == "failed"
    assert drain(source) == [bodies[first]]

    rest = redrive(dead, source, failed_requests)
    assert (rest.moved, rest.requeued, rest.left) == (3, 1, 0)
    assert sorted(drain(source)) == sorted([bodies[second], bodies[unfinished], "not an event"])
    assert peek(dead, failed_requests, limit=100) == []
    assert status_of(engine, second) == ("queued", None)


def test_gateway_admin_lists_shows_and_redrives_a_models_dead_letters(
    stack: Stack,
    engine: Engine,
    fresh_database: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    names, source, dead = queues(stack)
    [request_id] = requests_in(engine, ["failed"])
    dead.send(body(request_id))
    for name, value in {
        **stack.config.settings(),
        "DATABASE_URL": fresh_database,
        "RESOURCE_PREFIX": names.prefix,
    }.items():
        monkeypatch.setenv(name, value)

    admin.main(["dlq", "list", "m"])
    listed = capsys.readouterr().out
    assert str(request_id) in listed and REASON in listed and "failed" in listed
    admin.main(["dlq", "show", "m", str(request_id).upper()])
    assert f'"request_id": "{request_id}"' in capsys.readouterr().out
    admin.main(["dlq", "redrive", "m"])
    assert "moved 1 messages back" in capsys.readouterr().out
    assert len(drain(source)) == 1 and status_of(engine, request_id)[0] == "queued"
    with pytest.raises(SystemExit):
        admin.main(["dlq", "list", "no-such-model"])
    assert "has no queue" in capsys.readouterr().err
