"""HTTP in, result out: gateway -> outbox -> SNS -> SQS -> worker -> S3 -> SNS -> SQS -> dispatcher -> PostgreSQL."""

from __future__ import annotations

import io
import json
import time
import uuid

import numpy as np
from sqlalchemy import insert, select

import devstack
from e2e.conftest import Observer
from inference_core.aws.s3 import S3Store
from inference_core.aws.sns import find_topic_arn
from inference_core.aws.sqs import SqsQueue
from inference_core.db.schema import inference_requests
from inference_core.events import InferenceRequested, encode, utcnow
from support.api import GatewayClient
from support.stack import Platform


def submit(gateway: GatewayClient, text: str, **extra: object) -> str:
    response = gateway.submit({"action": "sentiment", "text": text, **extra})
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "queued"
    assert response.headers["Location"] == f"/v1/inference/{body['request_id']}"
    return str(body["request_id"])


def test_a_request_is_answered_with_a_real_prediction(
    gateway: GatewayClient, platform: Platform, job_completed: Observer
) -> None:
    request_id = submit(gateway, "A warm, funny and deeply moving film.", metadata={"client": "e2e"})
    answer = gateway.result(request_id)

    assert answer["status"] == "succeeded", answer
    result = answer["result"]
    assert result["label"] in ("positive", "negative")
    assert set(result["scores"]) == {"positive", "negative"}
    assert abs(sum(result["scores"].values()) - 1) < 1e-3
    assert result["confidence"] == max(result["scores"].values())
    assert answer["model"]["name"] == "sentiment" and answer["model"]["version"]
    assert answer["metadata"] == {"client": "e2e"}
    assert answer["created_at"] <= answer["started_at"] <= answer["completed_at"]

    s3 = S3Store(platform.stack.client("s3"), platform.stack.aws.names.bucket)
    features = np.load(io.BytesIO(s3.get(answer["features_uri"])))
    assert features.shape[1] == 384 and features.dtype == np.float32
    assert np.isclose(
        np.linalg.norm(features[answer["features_row"]]), 1.0, atol=1e-3
    )  # MiniLM embeddings are unit vectors

    (event,) = job_completed.wait_for(request_id)
    assert event.status == "succeeded" and event.model_version == answer["model"]["version"]


def test_labels_follow_the_text(gateway: GatewayClient) -> None:
    good = submit(gateway, "A masterpiece: brilliant, beautiful, and the best film of the year.")
    bad = submit(gateway, "Dull, tedious and badly acted; a complete waste of time.")
    assert gateway.result(good)["result"]["label"] == "positive"
    assert gateway.result(bad)["result"]["label"] == "negative"


def test_wait_returns_early_when_the_request_finishes(gateway: GatewayClient) -> None:
    request_id = submit(gateway, "Quick one.")
    started = time.monotonic()
    assert gateway.result(request_id, wait=30)["status"] == "succeeded"
    assert time.monotonic() - started < 20


def test_submit_and_wait_answers_with_the_prediction(gateway: GatewayClient) -> None:
    body = {"action": "sentiment", "text": "A masterpiece: brilliant, beautiful, and the best film of the year."}
    answer = gateway.request("POST", "/v1/inference", params={"wait": 30}, json=body)  # checked against the document
    assert answer.status_code == 200, answer.text
    record = answer.json()
    assert record["status"] == "succeeded" and record["result"]["label"] == "positive"
    assert gateway.result(record["request_id"], wait=0) == record


def test_actions_name_the_serving_version(gateway: GatewayClient) -> None:
    (action,) = [a for a in gateway.get("/v1/actions").json()["actions"] if a["action"] == "sentiment"]
    assert action["model"] == "sentiment" and action["serving"] is True and action["version"]


def test_idempotent_retries_return_the_original_request(gateway: GatewayClient, platform: Platform) -> None:
    key = f"e2e-{uuid.uuid4()}"
    body = {"action": "sentiment", "text": "Same request, sent twice."}
    first = gateway.submit(body, key)
    second = gateway.submit(body, key)
    assert first.status_code == second.status_code == 202
    assert first.json()["request_id"] == second.json()["request_id"]
    assert second.headers["Idempotent-Replayed"] == "true"

    conflict = gateway.submit({**body, "text": "A different body."}, key)
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "idempotency_key_reused"
    with platform.stack.engine.connect() as conn:
        rows = conn.execute(select(inference_requests.c.id).where(inference_requests.c.idempotency_key == key)).all()
    assert len(rows) == 1


def test_duplicate_deliveries_store_one_prediction_and_one_job_completed(
    gateway: GatewayClient, platform: Platform, job_completed: Observer
) -> None:
    request_id = submit(gateway, "Delivered more than once.")
    first = gateway.result(request_id)
    assert first["status"] == "succeeded"
    assert len(job_completed.wait_for(request_id)) == 1

    # SQS may deliver the same request again (and a redrive may replay it): send it twice more.
    stack = platform.stack
    with stack.engine.connect() as conn:
        row = conn.execute(select(inference_requests).where(inference_requests.c.id == uuid.UUID(request_id))).first()
    assert row is not None
    replay = encode(
        InferenceRequested(request_id=row.id, action=row.action, text=row.input_text, submitted_at=utcnow())
    ).body
    model_queue = SqsQueue.named(stack.client("sqs"), stack.aws.names.model_queue("sentiment"))
    model_queue.send(replay)
    model_queue.send(replay)

    # Let the worker answer both duplicates and the dispatcher apply them.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and model_queue.approximate_depth() > 0:
        time.sleep(0.5)
    job_completed.drain(5)

    assert len(job_completed.for_request(request_id)) == 1
    again = gateway.result(request_id)
    assert (again["result"], again["completed_at"], again["features_uri"]) == (
        first["result"],
        first["completed_at"],
        first["features_uri"],
    )


def test_a_poison_message_ends_in_the_dlq_and_fails_its_request(gateway: GatewayClient, platform: Platform) -> None:
    stack = platform.stack
    request_id = uuid.uuid4()
    with stack.engine.begin() as conn:  # a request the platform accepted...
        conn.execute(
            insert(inference_requests).values(
                id=request_id,
                tenant=devstack.DEV_TENANT,  # the gateway fixture's
                action="sentiment",
                input_text="text",
                request_fingerprint="f",
                status="queued",
            )
        )
    # ...whose event is one no worker can read (a producer bug: text is not a string).
    poison = json.dumps(
        {
            "schema_version": 1,
            "event_type": "inference_request",
            "data": {"request_id": str(request_id), "action": "sentiment", "text": 42, "submitted_at": "x"},
        }
    )
    sns = stack.client("sns")
    sns.publish(
        TopicArn=find_topic_arn(sns, stack.aws.names.topic),
        Message=poison,
        MessageAttributes={
            "event_type": {"DataType": "String", "StringValue": "inference_request"},
            "action": {"DataType": "String", "StringValue": "sentiment"},
        },
    )

    answer = gateway.result(str(request_id), wait=30)
    deadline = time.monotonic() + 30
    while answer["status"] != "failed" and time.monotonic() < deadline:
        answer = gateway.result(str(request_id), wait=5)
    assert answer["status"] == "failed", answer
    assert answer["error"]["code"] == "processing_failed"
    assert "3 times" in answer["error"]["message"]

    dlq = SqsQueue.named(
        stack.client("sqs"), stack.aws.names.dead_letter_queue(stack.aws.names.model_queue("sentiment"))
    )
    found: list[str] = []
    deadline = time.monotonic() + 30
    while not found and time.monotonic() < deadline:
        found = [m.body for m in dlq.receive(10, 2) if str(request_id) in m.body]
    assert found == [poison]


def test_requests_accepted_while_sns_is_down_are_published_when_it_returns(
    gateway: GatewayClient, platform: Platform, job_completed: Observer
) -> None:
    platform.proxy.disable()
    try:
        response = gateway.submit({"action": "sentiment", "text": "Sent while SNS was unreachable."})
        assert response.status_code == 202, response.text
        request_id = response.json()["request_id"]
        ready = gateway.get("/readyz")  # still ready to accept, as the submission above shows
        assert ready.status_code == 200 and ready.json()["status"] == "degraded"
        assert ready.json()["checks"]["sns"].startswith("unreachable")
        time.sleep(3)  # the relay tries, fails and backs off; the request waits in the outbox
        assert gateway.result(request_id, wait=0)["status"] == "queued"
    finally:
        platform.proxy.enable()
    # A dispatcher's long poll cut by the outage may still take the worker's answer on the queue's side
    # (SQS cannot tell that its caller is gone): then it comes back after the visibility timeout (60 s).
    deadline = time.monotonic() + 90
    while (answer := gateway.result(request_id, wait=30))["status"] != "succeeded" and time.monotonic() < deadline:
        pass
    assert answer["status"] == "succeeded", answer
    assert len(job_completed.wait_for(request_id)) == 1
    assert gateway.get("/readyz").json() == {"status": "ready", "checks": {"database": "ok", "sns": "ok"}}
