"""Provisioning against real LocalStack: idempotent, and the filter policies route each event to its queue."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from inference_core.aws.provision import BucketSettings, ModelRoute, QueueSettings, Topology, provision
from inference_core.aws.sns import SnsPublisher
from inference_core.aws.sqs import SqsQueue
from inference_core.events import (
    InferenceBatchCompleted,
    InferenceCompleted,
    InferenceRequested,
    InferenceStarted,
    JobCompleted,
    ModelServing,
    decode,
    encode,
    utcnow,
)
from inference_core.settings import ResourceNames
from support.stack import Stack

pytestmark = pytest.mark.integration

ROUTES = [ModelRoute("alpha", "classify"), ModelRoute("beta", "embed")]
Provisioned = tuple[Topology, ResourceNames]


@pytest.fixture(scope="module")
def topology(stack: Stack) -> Provisioned:
    names = ResourceNames(prefix=f"p{uuid.uuid4().hex[:6]}-")
    clients = (stack.client("sns"), stack.client("sqs"), stack.client("s3"))
    return provision(*clients, names, ROUTES, QueueSettings(max_receive_count=4)), names


def test_provisioning_twice_converges_to_the_same_resources(
    stack: Stack, topology: tuple[Topology, ResourceNames]
) -> None:
    first, names = topology
    again = provision(stack.client("sns"), stack.client("sqs"), stack.client("s3"), names, ROUTES)
    assert again == first
    sns = stack.client("sns")
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=first.topic_arn)["Subscriptions"]
    assert len(subscriptions) == 5  # gateway + two lanes for each of two models, not duplicated by the second run


def test_queues_have_a_dlq_and_accept_only_the_topic(stack: Stack, topology: Provisioned) -> None:
    first, _ = topology
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=first.model_queue_urls["alpha"], AttributeNames=["All"]
    )["Attributes"]
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"].endswith("model-alpha-dlq")
    assert int(redrive["maxReceiveCount"]) == 5  # the second run applied the default again
    (statement,) = json.loads(attributes["Policy"])["Statement"]
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == first.topic_arn


def test_every_queue_is_encrypted_at_rest(stack: Stack, topology: Provisioned) -> None:
    first, _ = topology
    sqs = stack.client("sqs")
    urls = [first.gateway_queue_url, *first.model_queue_urls.values(), *first.priority_queue_urls.values()]
    urls += [
        sqs.get_queue_url(QueueName=ResourceNames.dead_letter_queue(url.rsplit("/", 1)[-1]))["QueueUrl"] for url in urls
    ]
    encrypted = [
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["SqsManagedSseEnabled"])["Attributes"].get(
            "SqsManagedSseEnabled"
        )
        for url in urls
    ]
    assert encrypted == ["true"] * 10


def test_the_bucket_is_private_encrypted_and_expires_features_and_results(stack: Stack, topology: Provisioned) -> None:
    _, names = topology
    s3 = stack.client("s3")
    blocked = s3.get_public_access_block(Bucket=names.bucket)["PublicAccessBlockConfiguration"]
    assert blocked == dict.fromkeys(
        ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
    )
    (rule,) = s3.get_bucket_encryption(Bucket=names.bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    rules = s3.get_bucket_lifecycle_configuration(Bucket=names.bucket)["Rules"]
    expiry = {r["Filter"]["Prefix"]: r["Expiration"]["Days"] for r in rules if r["Status"] == "Enabled"}
    assert expiry == {"features/": 30, "results/": 15}  # results outlive a dead letter (14 days) that names them
    operators = {
        "ID": "operator-mlflow",
        "Filter": {"Prefix": "mlflow/"},
        "Status": "Enabled",
        "Expiration": {"Days": 365},
    }
    s3.put_bucket_lifecycle_configuration(Bucket=names.bucket, LifecycleConfiguration={"Rules": [*rules, operators]})
    provision(stack.client("sns"), stack.client("sqs"), s3, names, ROUTES, bucket_settings=BucketSettings(7))
    rules = s3.get_bucket_lifecycle_configuration(Bucket=names.bucket)["Rules"]
    expiry = {r["Filter"]["Prefix"]: r["Expiration"]["Days"] for r in rules}
    assert expiry == {"features/": 7, "results/": 15, "mlflow/": 365}  # an operator's own rule is kept
    provision(stack.client("sns"), stack.client("sqs"), s3, names, ROUTES)  # as the module's other tests expect it


def test_each_queue_receives_only_its_events(stack: Stack, topology: Provisioned) -> None:
    first, _ = topology
    now = utcnow()
    request = {"request_id": uuid.uuid4(), "text": "t", "submitted_at": now}
    events = [
        InferenceRequested(action="classify", **request),  # type: ignore[arg-type]
        InferenceRequested(action="embed", **request),  # type: ignore[arg-type]
        InferenceRequested(action="unserved", **request),  # type: ignore[arg-type]
        InferenceStarted(
            request_id=uuid.uuid4(), action="classify", model_name="alpha", model_version="1", started_at=now
        ),
        InferenceCompleted(
            request_id=uuid.uuid4(), action="embed", status="succeeded", model_name="beta", completed_at=now
        ),
        InferenceBatchCompleted(
            action="embed",
            outcomes=[
                InferenceCompleted(
                    request_id=uuid.uuid4(), action="embed", status="succeeded", model_name="beta", completed_at=now
                )
            ],
        ),
        ModelServing(action="classify", model_name="alpha", model_version="1", at=now),
        JobCompleted(request_id=uuid.uuid4(), action="classify", status="succeeded", model_name="a", completed_at=now),
    ]
    assert SnsPublisher(stack.client("sns"), first.topic_arn).publish([encode(e) for e in events]) == []

    sqs = stack.client("sqs")
    received = {
        name: [decode(m.body) for m in drain(SqsQueue(sqs, url))]
        for name, url in [
            ("gateway", first.gateway_queue_url),
            *first.model_queue_urls.items(),
            *((f"{model} high", url) for model, url in first.priority_queue_urls.items()),
        ]
    }
    assert received["alpha high"] == received["beta high"] == []  # nothing asked for high priority
    assert [(type(e).__name__, e.action) for e in received["alpha"]] == [("InferenceRequested", "classify")]
    assert [(type(e).__name__, e.action) for e in received["beta"]] == [("InferenceRequested", "embed")]
    assert sorted(type(e).__name__ for e in received["gateway"]) == [
        "InferenceBatchCompleted",
        "InferenceCompleted",
        "InferenceStarted",
        "ModelServing",
    ]


def drain(queue: SqsQueue, quiet_seconds: float = 2.0) -> list:  # type: ignore[type-arg]
    messages, deadline = [], time.monotonic() + quiet_seconds
    while time.monotonic() < deadline:
        batch = queue.receive(10, 1)
        if batch:
            messages.extend(batch)
            queue.delete(batch)
            deadline = time.monotonic() + quiet_seconds
    return messages


def test_a_high_priority_request_takes_its_models_lane_and_any_other_the_normal_queue(
    stack: Stack, topology: Provisioned
) -> None:
    first, names = topology
    assert first.priority_queue_urls["alpha"].endswith(names.priority_queue("alpha"))
    now = utcnow()
    requests = {
        priority: InferenceRequested(
            request_id=uuid.uuid4(), action="classify", text=str(priority), submitted_at=now, priority=priority
        )
        for priority in ("high", "normal", None)  # None: no priority attribute, as from an older gateway
    }
    assert "priority" not in encode(requests[None]).attributes
    assert SnsPublisher(stack.client("sns"), first.topic_arn).publish([encode(e) for e in requests.values()]) == []
    sqs = stack.client("sqs")
    lane = [decode(m.body) for m in drain(SqsQueue(sqs, first.priority_queue_urls["alpha"]))]
    normal = [decode(m.body) for m in drain(SqsQueue(sqs, first.model_queue_urls["alpha"]))]
    assert lane == [requests["high"]]
    assert sorted(normal, key=str) == sorted([requests["normal"], requests[None]], key=str)
    dead_letter_target = json.loads(
        sqs.get_queue_attributes(QueueUrl=first.priority_queue_urls["alpha"], AttributeNames=["RedrivePolicy"])[
            "Attributes"
        ]["RedrivePolicy"]
    )["deadLetterTargetArn"]
    assert dead_letter_target.endswith(names.dead_letter_queue(names.priority_queue("alpha")))
