"""The outbox relay against real PostgreSQL and SNS: nothing accepted is lost while SNS is away."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from sqlalchemy import Engine, func, select, update

from gateway import handlers, outbox, store
from gateway.outbox import OutboxRelay
from gateway.store import SqlUnitOfWork
from gateway.unit_of_work import Caller
from gateway.validation import SubmitInference
from inference_core.aws.clients import aws_client
from inference_core.aws.provision import ModelRoute, provision
from inference_core.aws.sns import SnsPublisher
from inference_core.aws.sqs import SqsQueue
from inference_core.db.schema import inference_requests
from inference_core.db.schema import outbox as outbox_table
from inference_core.events import InferenceRequested, JobCompleted, decode, utcnow
from inference_core.settings import AwsSettings, ResourceNames
from support.proxy import SwitchableProxy
from support.stack import Stack

pytestmark = pytest.mark.integration

TENANT = "acme"


def test_events_wait_while_sns_is_down_and_go_out_once_it_is_back(
    stack: Stack, fresh_database: str, engine: Engine
) -> None:
    names = ResourceNames(prefix=f"o{uuid.uuid4().hex[:6]}-")
    topology = provision(stack.client("sns"), stack.client("sqs"), stack.client("s3"), names, [ModelRoute("m", "act")])
    proxy = SwitchableProxy(stack.config.localstack_port)
    via_proxy = AwsSettings(stack.aws.region, proxy.url, names)
    relay = OutboxRelay(engine, SnsPublisher(aws_client("sns", via_proxy), topology.topic_arn), fresh_database)
    ids = [uuid.uuid4() for _ in range(12)]
    try:
        proxy.disable()
        with engine.begin() as conn:
            for request_id in ids:
                event = InferenceRequested(request_id=request_id, action="act", text="t", submitted_at=utcnow())
                outbox.enqueue(conn, event)
        with pytest.raises(Exception):  # noqa: B017 - any connection error: SNS is unreachable
            relay.publish_pending()
        with engine.connect() as conn:
            assert outbox.pending_count(conn) == 12
            attempts = conn.execute(select(outbox_table.c.attempts).order_by(outbox_table.c.id)).scalars().all()
        # The failed claim records its attempt on each row (not lost with a rollback).
        assert attempts == [1] * 12

        proxy.enable()
        stop = threading.Event()
        runner = threading.Thread(target=relay.run, args=(stop,))
        runner.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                if outbox.pending_count(conn) == 0:
                    break
            time.sleep(0.2)
        stop.set()
        runner.join(10)
    finally:
        proxy.close()

    queue = SqsQueue(stack.client("sqs"), topology.model_queue_urls["m"])
    received = []
    deadline = time.monotonic() + 20
    while len(received) < 12 and time.monotonic() < deadline:
        batch = queue.receive(10, 1)
        received.extend(decode(m.body).request_id for m in batch)  # type: ignore[union-attr]
        queue.delete(batch)
    assert sorted(received) == sorted(ids)


def test_a_notify_wakes_the_relay_without_waiting_for_the_poll(
    stack: Stack, fresh_database: str, engine: Engine
) -> None:
    names = ResourceNames(prefix=f"n{uuid.uuid4().hex[:6]}-")
    topology = provision(stack.client("sns"), stack.client("sqs"), stack.client("s3"), names, [])
    relay = OutboxRelay(
        engine, SnsPublisher(stack.client("sns"), topology.topic_arn), fresh_database, idle_poll_seconds=30
    )
    stop = threading.Event()
    runner = threading.Thread(target=relay.run, args=(stop,))
    runner.start()
    try:
        time.sleep(1)  # the relay is now idle, listening
        started = time.monotonic()
        with engine.begin() as conn:
            outbox.enqueue(
                conn, InferenceRequested(request_id=uuid.uuid4(), action="a", text="t", submitted_at=utcnow())
            )
        assert _seconds_until_all_published(engine, started) < 5  # far below the 30 s poll
    finally:
        stop.set()
        runner.join(10)


def test_a_job_completed_waits_for_the_next_claim_and_a_request_takes_it_along_at_once(
    stack: Stack, fresh_database: str, engine: Engine
) -> None:
    names = ResourceNames(prefix=f"d{uuid.uuid4().hex[:6]}-")
    topology = provision(stack.client("sns"), stack.client("sqs"), stack.client("s3"), names, [])
    defer = 5.0
    relay = OutboxRelay(
        engine,
        SnsPublisher(stack.client("sns"), topology.topic_arn),
        fresh_database,
        idle_poll_seconds=60,
        defer_seconds=defer,
    )

    def completed() -> JobCompleted:
        return JobCompleted(
            request_id=uuid.uuid4(), action="a", status="succeeded", model_name="m", completed_at=utcnow()
        )

    stop = threading.Event()
    runner = threading.Thread(target=relay.run, args=(stop,))
    runner.start()
    try:
        time.sleep(1)  # the relay is now idle, listening
        # Alone, a job_completed goes out once the defer is over, long before the idle poll.
        started = time.monotonic()
        with engine.begin() as conn:
            outbox.enqueue(conn, completed())
        assert defer - 1 < _seconds_until_all_published(engine, started) < 3 * defer

        # A request's event is claimed at once, and the job_completed waiting then goes with it.
        with engine.begin() as conn:
            outbox.enqueue(conn, completed())
        time.sleep(1)
        with engine.connect() as conn:
            assert outbox.pending_count(conn) == 1
        started = time.monotonic()
        with engine.begin() as conn:
            outbox.enqueue(
                conn, InferenceRequested(request_id=uuid.uuid4(), action="a", text="t", submitted_at=utcnow())
            )
        assert _seconds_until_all_published(engine, started) < defer - 2
        with engine.connect() as conn:
            claims = conn.execute(
                select(outbox_table.c.published_at).order_by(outbox_table.c.id.desc()).limit(2)
            ).scalars()
            assert len(set(claims)) == 1  # one claim (its transaction's time) published both
    finally:
        stop.set()
        runner.join(10)


def _seconds_until_all_published(engine: Engine, since: float) -> float:
    """Seconds from `since` (monotonic) until the outbox has nothing pending; fails after 30 s."""
    while time.monotonic() - since < 30:
        with engine.connect() as conn:
            if outbox.pending_count(conn) == 0:
                return time.monotonic() - since
        time.sleep(0.05)
    raise AssertionError("the relay left events pending for 30 s")


def test_only_unfinished_requests_are_published_again_after_the_broker_lost_its_queues(
    fresh_database: str, engine: Engine
) -> None:
    with engine.begin() as conn:
        store.create_tenant(conn, TENANT, None)
        store.register_action(conn, "a", "model-a")
    ids = {
        status: handlers.submit(
            SqlUnitOfWork(engine), Caller(TENANT, 1), SubmitInference("a", status, {}, None), tokens=1
        ).request_id
        for status in ("queued", "running", "succeeded", "failed")
    }
    with engine.begin() as conn:
        conn.execute(update(outbox_table).values(published_at=func.now()))  # all went out, then the queues died
        for status, request_id in ids.items():
            conn.execute(update(inference_requests).where(inference_requests.c.id == request_id).values(status=status))
        republished = outbox.republish_unfinished(conn)
    with engine.connect() as conn:
        pending = conn.execute(select(outbox_table.c.body).where(outbox_table.c.published_at.is_(None))).scalars()
        pending_ids = sorted(str(decode(body).request_id) for body in pending)
    assert republished == 2
    assert pending_ids == sorted(str(ids[s]) for s in ("queued", "running"))
