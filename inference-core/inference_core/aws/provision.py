"""Create the platform's AWS resources, idempotently.

One topic; per model two queues (each with a dead-letter queue) subscribed with raw delivery
and a filter on ``event_type=inference_request`` and its ``action``: the normal one for requests
whose ``priority`` attribute is ``normal`` or absent, the priority lane for ``priority=high``
(its worker drains it first); a gateway queue for the workers' answers; one bucket. Every call
converges to the same state, so it is safe to run on each start. Nothing here hard-codes an
account, region or endpoint.

At rest: every queue is encrypted with SQS-managed keys (SSE-SQS: no KMS key policy to keep in
step with SNS) and the bucket with S3-managed keys; the bucket blocks every form of public access.
Features expire after ``BucketSettings.features_expiry_days``; results objects outlive any message
that can still name them (a dead letter is kept 14 days), then expire; reports and MLflow's
artifacts are kept. ``inference_core.aws.iam`` names the same resources in each service's policy.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from inference_core.aws.s3 import FEATURES_PREFIX, RESULTS_PREFIX
from inference_core.events import EventType
from inference_core.settings import ResourceNames

# The two lanes' filters on the `priority` attribute (values in a list match any of them):
# a request without one (from a gateway before priorities, or republished) is normal.
_NORMAL: list[Any] = ["normal", {"exists": False}]
_HIGH: list[Any] = ["high"]
_ENCRYPTED = {"SqsManagedSseEnabled": "true"}


@dataclass(frozen=True)
class ModelRoute:
    """A model and the action whose requests it serves."""

    model_name: str
    action: str


@dataclass(frozen=True)
class QueueSettings:
    # Receives before SQS moves a message to its dead-letter queue.
    max_receive_count: int = 5
    # Long enough for a batch to be predicted, stored and published.
    visibility_timeout_seconds: int = 60
    # Keep failed messages for people to inspect and redrive (14 days, the SQS maximum).
    dead_letter_retention_seconds: int = 14 * 24 * 3600


@dataclass(frozen=True)
class BucketSettings:
    # How long a batch's features stay in S3 for monitoring and retraining to read (S3_FEATURES_EXPIRY_DAYS).
    features_expiry_days: int = 30


@dataclass(frozen=True)
class Topology:
    topic_arn: str
    bucket: str
    gateway_queue_url: str
    model_queue_urls: dict[str, str]
    priority_queue_urls: dict[str, str]


def provision(
    sns: Any,
    sqs: Any,
    s3: Any,
    names: ResourceNames,
    routes: Sequence[ModelRoute],
    queue_settings: QueueSettings = QueueSettings(),
    bucket_settings: BucketSettings = BucketSettings(),
) -> Topology:
    topic_arn = sns.create_topic(Name=names.topic)["TopicArn"]
    _ensure_bucket(s3, names.bucket)
    _protect_bucket(s3, names.bucket, _lifecycle_rules(bucket_settings, queue_settings))
    gateway_url = _ensure_subscribed_queue(
        sns,
        sqs,
        topic_arn,
        names.gateway_queue,
        {
            "event_type": [
                EventType.INFERENCE_STARTED.value,
                EventType.INFERENCE_BATCH_STARTED.value,
                EventType.INFERENCE_RESPONSE.value,
                EventType.INFERENCE_BATCH_RESPONSE.value,
                EventType.MODEL_SERVING.value,
            ]
        },
        queue_settings,
    )

    def model_lane(queue_name: str, action: str, priorities: list[Any]) -> str:
        request_filter = {"event_type": [EventType.INFERENCE_REQUEST.value], "action": [action], "priority": priorities}
        return _ensure_subscribed_queue(sns, sqs, topic_arn, queue_name, request_filter, queue_settings)

    normal = {r.model_name: model_lane(names.model_queue(r.model_name), r.action, _NORMAL) for r in routes}
    high = {r.model_name: model_lane(names.priority_queue(r.model_name), r.action, _HIGH) for r in routes}
    return Topology(topic_arn, names.bucket, gateway_url, normal, high)


def _ensure_bucket(s3: Any, bucket: str) -> None:
    try:
        s3.head_bucket(Bucket=bucket)
        return
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise
    region = s3.meta.region_name
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if region and region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**kwargs)


def _protect_bucket(s3: Any, bucket: str, rules: list[dict[str, Any]]) -> None:
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    ours = {rule["ID"] for rule in rules}
    try:  # an operator's own rules (on MLflow's artifacts, say) are kept
        theirs = [r for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"] if r.get("ID") not in ours]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchLifecycleConfiguration":
            raise
        theirs = []
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [*theirs, *rules]})


def _lifecycle_rules(bucket: BucketSettings, queues: QueueSettings) -> list[dict[str, Any]]:
    results_days = queues.dead_letter_retention_seconds // 86_400 + 1
    return [
        {
            "ID": f"expire-{prefix}",
            "Filter": {"Prefix": f"{prefix}/"},
            "Status": "Enabled",
            "Expiration": {"Days": days},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        }
        for prefix, days in ((FEATURES_PREFIX, bucket.features_expiry_days), (RESULTS_PREFIX, results_days))
    ]


def _ensure_queue(sqs: Any, name: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return str(url), str(arn)


def _ensure_subscribed_queue(
    sns: Any,
    sqs: Any,
    topic_arn: str,
    name: str,
    filter_policy: dict[str, list[Any]],
    settings: QueueSettings,
) -> str:
    dlq_url, dlq_arn = _ensure_queue(sqs, ResourceNames.dead_letter_queue(name))
    sqs.set_queue_attributes(
        QueueUrl=dlq_url,
        Attributes={"MessageRetentionPeriod": str(settings.dead_letter_retention_seconds), **_ENCRYPTED},
    )
    # Attributes are set after creation so that a second run updates them instead of failing.
    url, arn = _ensure_queue(sqs, name)
    sqs.set_queue_attributes(
        QueueUrl=url,
        Attributes={
            "VisibilityTimeout": str(settings.visibility_timeout_seconds),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(settings.max_receive_count)}
            ),
            "Policy": json.dumps(_allow_topic_policy(arn, topic_arn)),
            **_ENCRYPTED,
        },
    )
    subscription_arn = sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"RawMessageDelivery": "true"},
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    # subscribe() returns the existing subscription unchanged; set the filter so edits apply.
    sns.set_subscription_attributes(
        SubscriptionArn=subscription_arn,
        AttributeName="FilterPolicy",
        AttributeValue=json.dumps(filter_policy),
    )
    return url


def _allow_topic_policy(queue_arn: str, topic_arn: str) -> dict[str, Any]:
    """SNS may deliver to the queue only from the platform's topic (the account's own principals are
    governed by their IAM policies, inference_core.aws.iam)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowInferenceTopic",
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            }
        ],
    }
