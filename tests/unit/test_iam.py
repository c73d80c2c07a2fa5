"""The generated IAM policies: each service gets what its calls need, on its own resources, and no more."""

from __future__ import annotations

import pytest

from inference_core.aws.iam import Account, Permission, Resource, allows, permission_for, policies
from inference_core.settings import ResourceNames

NAMES = ResourceNames(prefix="prod-")
ACCOUNT = Account("123456789012", "eu-west-1")
POLICIES = policies(NAMES, ["sentiment", "embedding"], ACCOUNT)
QUEUE_URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/prod-model-sentiment"
TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:prod-inference-events"


@pytest.mark.parametrize(
    ("service", "operation", "params", "expected"),
    [
        ("sqs", "ReceiveMessage", {"QueueUrl": QUEUE_URL}, "sqs:ReceiveMessage queue:prod-model-sentiment"),
        ("sqs", "DeleteMessageBatch", {"QueueUrl": QUEUE_URL}, "sqs:DeleteMessage queue:prod-model-sentiment"),
        ("sqs", "GetQueueUrl", {"QueueName": "prod-gateway-responses"}, "sqs:GetQueueUrl queue:prod-gateway-responses"),
        ("sns", "PublishBatch", {"TopicArn": TOPIC_ARN}, "sns:Publish topic:prod-inference-events"),
        ("sns", "Subscribe", {"TopicArn": TOPIC_ARN}, "sns:Subscribe topic:prod-inference-events"),
        ("sns", "SetSubscriptionAttributes", {"SubscriptionArn": f"{TOPIC_ARN}:1f2e"},
         "sns:SetSubscriptionAttributes topic:prod-inference-events"),
        ("sns", "ListTopics", {}, "sns:ListTopics *:"),
        ("s3", "PutObject", {"Bucket": "b", "Key": "features/sentiment/v3/2026/12/07/x.npy"},
         "s3:PutObject object:b/features/sentiment/v3/2026/12/07/*"),
        ("s3", "HeadBucket", {"Bucket": "b"}, "s3:ListBucket bucket:b"),
        ("s3", "PutPublicAccessBlock", {"Bucket": "b"}, "s3:PutBucketPublicAccessBlock bucket:b"),
    ],
)  # fmt: skip
def test_a_call_maps_to_the_action_and_resource_iam_checks(
    service: str, operation: str, params: dict[str, str], expected: str
) -> None:
    permission = permission_for(service, operation, params)
    assert str(permission) == expected
    assert Permission.parse(expected) == permission


def granted(service: str, text: str) -> bool:
    return allows(POLICIES[service], Permission.parse(text), ACCOUNT)


def test_a_worker_consumes_its_own_two_queues_and_writes_its_own_objects_only() -> None:
    assert granted("worker-sentiment", "sqs:ReceiveMessage queue:prod-model-sentiment")
    assert granted("worker-sentiment", "sqs:ChangeMessageVisibility queue:prod-high-model-sentiment")
    assert granted("worker-sentiment", "s3:PutObject object:prod-inference-platform/features/sentiment/v3/2026/*")
    assert granted("worker-sentiment", "s3:PutObject object:prod-inference-platform/results/sentiment/v3/2026/*")
    assert not granted("worker-sentiment", "sqs:ReceiveMessage queue:prod-model-embedding")
    assert not granted("worker-sentiment", "sqs:ReceiveMessage queue:prod-gateway-responses")
    assert not granted("worker-sentiment", "s3:PutObject object:prod-inference-platform/features/embedding/v1/*")
    assert not granted("worker-sentiment", "s3:PutObject object:prod-inference-platform/reports/sentiment/*")
    assert not granted("worker-sentiment", "sqs:CreateQueue queue:prod-model-sentiment")
    assert not granted("worker-sentiment", "sqs:GetQueueAttributes queue:prod-model-sentiment-dlq")  # the dispatcher's


def test_the_gateway_only_finds_its_topic_and_reads_reports() -> None:
    assert granted("gateway", "sns:ListTopics *:")
    assert granted("gateway", "s3:GetObject object:prod-inference-platform/reports/sentiment/v1/2026/12/07/*")
    assert not granted("gateway", "sns:Publish topic:prod-inference-events")  # the dispatcher relays the outbox
    assert not granted("gateway", "s3:GetObject object:prod-inference-platform/features/sentiment/*")


def test_the_dispatcher_consumes_the_gateway_queue_publishes_and_reads_results() -> None:
    assert granted("dispatcher", "sqs:DeleteMessage queue:prod-gateway-responses")
    assert granted("dispatcher", "sns:Publish topic:prod-inference-events")
    assert granted("dispatcher", "s3:GetObject object:prod-inference-platform/results/embedding/v2/*")
    assert not granted("dispatcher", "sqs:ReceiveMessage queue:prod-model-sentiment")
    # its metrics read every queue's depth (a model at zero workers still shows its backlog and dead letters)
    for queue in ("prod-model-sentiment", "prod-high-model-embedding-dlq", "prod-gateway-responses-dlq"):
        assert granted("dispatcher", f"sqs:GetQueueAttributes queue:{queue}")
    assert not granted("dispatcher", "sqs:ReceiveMessage queue:prod-model-sentiment-dlq")
    assert not granted("dispatcher", "sns:Publish topic:other-inference-events")


def test_the_operator_redrives_dead_letters_and_only_the_provisioner_creates() -> None:
    assert granted("admin", "sqs:ReceiveMessage queue:prod-high-model-embedding-dlq")
    assert granted("admin", "sqs:SendMessage queue:prod-model-embedding")
    assert not granted("admin", "sqs:SetQueueAttributes queue:prod-model-embedding")
    assert not granted("admin", "sqs:ReceiveMessage queue:prod-model-embedding")  # never the live lane's traffic
    assert not granted("admin", "sqs:DeleteMessage queue:prod-high-model-sentiment")
    assert granted("provisioner", "sqs:CreateQueue queue:prod-gateway-responses-dlq")
    assert granted("provisioner", "s3:PutLifecycleConfiguration bucket:prod-inference-platform")
    assert not granted("provisioner", "sqs:ReceiveMessage queue:prod-model-sentiment")
    assert not granted("monitoring-job", "sqs:ReceiveMessage queue:prod-model-sentiment")


def test_arns_name_the_account_region_and_partition() -> None:
    statements = [s for s in POLICIES["worker-embedding"]["Statement"] if "sqs:ReceiveMessage" in s["Action"]]
    assert statements[0]["Resource"] == [
        "arn:aws:sqs:eu-west-1:123456789012:prod-high-model-embedding",
        "arn:aws:sqs:eu-west-1:123456789012:prod-model-embedding",
    ]
    assert Account("1", "cn-north-1").arn(Resource("queue", "q")) == "arn:aws-cn:sqs:cn-north-1:1:q"
    assert Account("1", "us-gov-west-1").arn(Resource("bucket", "b")) == "arn:aws-us-gov:s3:::b"


def test_wildcards_match_like_iam_and_nothing_else_does() -> None:
    policy = {"Statement": [{"Effect": "Allow", "Action": ["sqs:Get*"], "Resource": ["arn:aws:sqs:*:1:q?"]}]}
    account = Account("1", "us-east-1")
    assert allows(policy, Permission.parse("sqs:GetQueueUrl queue:q1"), account)
    assert allows(policy, Permission.parse("SQS:getqueueattributes queue:q2"), account)  # actions ignore case
    assert not allows(policy, Permission.parse("sqs:GetQueueUrl queue:q12"), account)
    assert not allows(policy, Permission.parse("sqs:SendMessage queue:q1"), account)
    assert not allows(
        {"Statement": [{**policy["Statement"][0], "Effect": "Deny"}]},
        Permission.parse("sqs:GetQueueUrl queue:q1"),
        account,
    )


def test_readers_may_list_only_under_their_prefixes_so_a_missing_object_is_a_404() -> None:
    (listing,) = [s for s in POLICIES["monitoring-job"]["Statement"] if s["Action"] == ["s3:ListBucket"]]
    assert listing["Resource"] == ["arn:aws:s3:::prod-inference-platform"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["features/*", "reports/*"]}}
    assert not any(s["Action"] == ["s3:ListBucket"] for s in POLICIES["worker-sentiment"]["Statement"])


def test_the_provisioner_may_set_a_subscriptions_filter_whichever_arn_sns_checks() -> None:
    assert granted("provisioner", "sns:SetSubscriptionAttributes topic:prod-inference-events")
    assert granted("provisioner", "sns:SetSubscriptionAttributes topic:prod-inference-events:5d1b")
