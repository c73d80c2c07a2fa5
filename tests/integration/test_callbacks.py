"""Callbacks against real PostgreSQL and a real HTTP receiver: queued with the finish, delivered
signed, retried, refused for a private address, every attempt recorded."""

from __future__ import annotations

import hashlib
import hmac
import json
from uuid import UUID

import pytest
from sqlalchemy import Engine, select

from gateway import handlers, store
from gateway.callbacks import CallbackSettings, UrllibPoster, deliver_due
from gateway.store import SqlCallbacks, SqlUnitOfWork
from gateway.unit_of_work import Caller
from gateway.validation import SubmitInference
from inference_core.db.schema import callback_attempts, callback_deliveries
from inference_core.events import InferenceCompleted, utcnow
from support.callbacks import Receiver

pytestmark = pytest.mark.integration

SECRET = "whsec_test-secret"


def finished_request(engine: Engine, url: str) -> UUID:
    with engine.begin() as conn:
        store.create_tenant(conn, "acme", None)
        store.set_callback_secret(conn, "acme", SECRET)
        store.register_action(conn, "act", "m")
    uow = SqlUnitOfWork(engine)
    command = SubmitInference("act", "text", {}, None, callback_url=url)
    request_id = handlers.submit(uow, Caller("acme", 1, can_callback=True), command, tokens=1).request_id
    outcome = InferenceCompleted(
        request_id=request_id,
        action="act",
        status="succeeded",
        model_name="m",
        result={"label": "positive"},
        completed_at=utcnow(),
    )
    with uow.transaction() as tx:
        handlers.apply_events(tx, [outcome])
    return request_id


def attempts(engine: Engine, request_id: UUID) -> list[tuple[int | None, str | None]]:
    a = callback_attempts.c
    with engine.connect() as conn:
        rows = conn.execute(select(a.status_code, a.error).where(a.request_id == request_id).order_by(a.id))
        return [(row.status_code, row.error) for row in rows]


def test_a_finished_request_is_posted_signed_and_a_failure_is_retried(engine: Engine, receiver: Receiver) -> None:
    request_id = finished_request(engine, receiver.url)
    receiver.statuses = [503]
    callbacks, allowed = SqlCallbacks(engine), CallbackSettings(allow_private_networks=True)
    assert deliver_due(callbacks, UrllibPoster(), allowed) == 1  # 503: due again in a second
    assert deliver_due(callbacks, UrllibPoster(), allowed) == 0
    with engine.begin() as conn:  # as if that second had passed
        conn.execute(callback_deliveries.update().values(next_attempt_at=utcnow()))
    assert deliver_due(callbacks, UrllibPoster(), allowed) == 1
    assert attempts(engine, request_id) == [(503, None), (200, None)]
    with engine.connect() as conn:
        delivery = conn.execute(select(callback_deliveries)).one()
    assert delivery.delivered_at is not None and delivery.next_attempt_at is None and delivery.attempts == 2

    headers, body = receiver.received[-1]
    record = json.loads(body)
    assert record["request_id"] == str(request_id) and record["result"] == {"label": "positive"}
    assert record["callback_url"] == receiver.url and headers["Inference-Request-Id"] == str(request_id)
    timestamp, _, digest = headers["Inference-Signature"].partition(",v1=")
    expected = hmac.new(SECRET.encode(), f"{timestamp.removeprefix('t=')}.".encode() + body, hashlib.sha256)
    assert hmac.compare_digest(digest, expected.hexdigest())


def test_a_callback_to_a_private_address_is_never_sent_and_the_refusal_is_recorded(
    engine: Engine, receiver: Receiver
) -> None:
    request_id = finished_request(engine, receiver.url)
    assert deliver_due(SqlCallbacks(engine), UrllibPoster(), CallbackSettings(allow_private_networks=False)) == 1
    assert receiver.received == []
    [(status, error)] = attempts(engine, request_id)
    assert status is None and "127.0.0.1, which is not a public address" in (error or "")
    with engine.connect() as conn:
        delivery = conn.execute(select(callback_deliveries)).one()
    assert delivery.gave_up_at is not None and delivery.next_attempt_at is None
