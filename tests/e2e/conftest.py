from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from inference_core.aws.sns import find_topic_arn
from inference_core.aws.sqs import SqsQueue
from inference_core.events import EventType, decode
from support.api import GatewayClient
from support.stack import Platform

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def gateway(platform: Platform) -> GatewayClient:
    client = GatewayClient(platform.gateway_url, platform.stack.config.api_key())
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # the worker loads its model, then announces itself
        actions = client.get("/v1/actions").json()["actions"]
        if any(a["action"] == "sentiment" and a["serving"] for a in actions):
            return client
        time.sleep(0.5)
    raise AssertionError("the sentiment worker never announced itself:\n" + platform.log("worker-sentiment")[-3000:])


class Observer:
    """A queue subscribed to job_completed events, as a downstream system would be."""

    def __init__(self, queue: SqsQueue) -> None:
        self.queue = queue
        self.seen: list[Any] = []

    def drain(self, seconds: float) -> list[Any]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            messages = self.queue.receive(10, 1)
            self.seen.extend(decode(m.body) for m in messages)
            if messages:
                self.queue.delete(messages)
        return self.seen

    def for_request(self, request_id: str) -> list[Any]:
        return [e for e in self.seen if str(e.request_id) == request_id]

    def wait_for(self, request_id: str, seconds: float = 30) -> list[Any]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.for_request(request_id):
            self.drain(1)
        return self.for_request(request_id)


@pytest.fixture(scope="session")
def job_completed(platform: Platform) -> Iterator[Observer]:
    stack = platform.stack
    sns, sqs = stack.client("sns"), stack.client("sqs")
    name = f"{stack.config.resource_prefix}observer-{uuid.uuid4().hex[:6]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    subscription = sns.subscribe(
        TopicArn=find_topic_arn(sns, stack.aws.names.topic),
        Protocol="sqs",
        Endpoint=arn,
        Attributes={
            "RawMessageDelivery": "true",
            "FilterPolicy": json.dumps({"event_type": [EventType.JOB_COMPLETED.value]}),
        },
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    yield Observer(SqsQueue(sqs, url))
    sns.unsubscribe(SubscriptionArn=subscription)
    sqs.delete_queue(QueueUrl=url)
