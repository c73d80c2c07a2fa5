"""The least-privilege IAM policy of each of the platform's services, from the names provisioning uses.

Each service's policy grants the actions its code calls on the resources it calls them on, named
by ``ResourceNames`` exactly as ``inference_core.aws.provision`` creates them, so a renamed queue
or a new model changes both at once::

    inference-aws iam-policies --account-id 123456789012 --out policies/

Services: ``gateway`` (the HTTP server: its readiness probe finds the topic; it serves reports),
``dispatcher`` (relays the outbox, applies the workers' answers), ``worker-<model>`` (one per model folder),
``monitoring-job``, ``admin`` (``gateway-admin dlq``: an operator's role), ``provisioner`` (this
package's ``inference-aws provision``). The annotation job calls no AWS API and has no policy.
``sns:ListTopics`` is the one grant on ``*``: IAM cannot scope it, and a service finds its topic's
ARN by name with it.

``permission_for`` maps one API call (as botocore makes it) to the action and resource IAM checks,
and ``allows`` evaluates a policy the way IAM does for these statements (Allow only, ``*`` and ``?``
wildcards): with them a test checks that every call each service made stays inside its policy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from inference_core.aws.s3 import FEATURES_PREFIX, REPORTS_PREFIX, RESULTS_PREFIX
from inference_core.aws.sqs import queue_name
from inference_core.settings import ResourceNames

Policy = dict[str, Any]
# A policy statement: its actions, on these resources, under an optional IAM condition.
Grant = tuple[Sequence[str], list["Resource"]] | tuple[Sequence[str], list["Resource"], dict[str, Any]]

# What a queue's consumer calls: find it, long-poll it, delete or put back what it received, read its
# redrive policy and depth.
_CONSUME = ("sqs:GetQueueUrl", "sqs:GetQueueAttributes", "sqs:ReceiveMessage", "sqs:DeleteMessage",
            "sqs:ChangeMessageVisibility")  # fmt: skip
# What the dispatcher's metrics read of a queue: its depth.
_WATCH = ("sqs:GetQueueUrl", "sqs:GetQueueAttributes")
_PUBLISH = ("sns:Publish",)
_FIND_TOPIC = "sns:ListTopics"

# API operations whose IAM action is not "<service>:<operation>".
_ACTIONS = {
    ("sqs", "SendMessageBatch"): "sqs:SendMessage",
    ("sqs", "DeleteMessageBatch"): "sqs:DeleteMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "sqs:ChangeMessageVisibility",
    ("sns", "PublishBatch"): "sns:Publish",
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "PutBucketLifecycleConfiguration"): "s3:PutLifecycleConfiguration",
    ("s3", "GetBucketLifecycleConfiguration"): "s3:GetLifecycleConfiguration",
    ("s3", "PutPublicAccessBlock"): "s3:PutBucketPublicAccessBlock",
    ("s3", "GetPublicAccessBlock"): "s3:GetBucketPublicAccessBlock",
    ("s3", "PutBucketEncryption"): "s3:PutEncryptionConfiguration",
    ("s3", "GetBucketEncryption"): "s3:GetEncryptionConfiguration",
}


@dataclass(frozen=True, order=True)
class Resource:
    """What a call acts on: ``queue``, ``topic`` or ``bucket`` by name, ``object`` as ``<bucket>/<key>``,
    or ``*`` (a call IAM does not scope to a resource)."""

    kind: str
    name: str = ""


ANY = Resource("*")


@dataclass(frozen=True, order=True)
class Permission:
    action: str  # "sqs:ReceiveMessage"
    resource: Resource

    def __str__(self) -> str:
        return f"{self.action} {self.resource.kind}:{self.resource.name}"

    @classmethod
    def parse(cls, text: str) -> Permission:
        action, _, resource = text.partition(" ")
        kind, _, name = resource.partition(":")
        return cls(action, Resource(kind, name))


@dataclass(frozen=True)
class Account:
    """Where ARNs point: the account and region the resources live in."""

    account_id: str
    region: str

    @property
    def partition(self) -> str:
        if self.region.startswith("cn-"):
            return "aws-cn"
        return "aws-us-gov" if self.region.startswith("us-gov-") else "aws"

    def arn(self, resource: Resource) -> str:
        match resource.kind:
            case "queue" | "topic":
                service = "sqs" if resource.kind == "queue" else "sns"
                return f"arn:{self.partition}:{service}:{self.region}:{self.account_id}:{resource.name}"
            case "bucket" | "object":
                return f"arn:{self.partition}:s3:::{resource.name}"
            case _:
                return "*"


def policies(names: ResourceNames, models: Sequence[str], account: Account) -> dict[str, Policy]:
    """Each service's policy document, by service name."""
    topic = Resource("topic", names.topic)

    def queues(*queue_names: str) -> list[Resource]:
        return [Resource("queue", name) for name in queue_names]

    def objects(prefix: str, model: str = "") -> Resource:
        return Resource("object", f"{names.bucket}/{prefix}/{model}{'/' if model else ''}*")

    def lanes(model: str) -> list[str]:
        return [names.model_queue(model), names.priority_queue(model)]

    def listing(*prefixes: str) -> Grant:
        """Listing under the prefixes a service reads: without it, S3 answers a missing object with 403,
        not 404, and a reader cannot tell an expired object from a denied one."""
        condition = {"StringLike": {"s3:prefix": [f"{prefix}/*" for prefix in prefixes]}}
        return (["s3:ListBucket"], [Resource("bucket", names.bucket)], condition)

    every_lane = [q for m in models for q in lanes(m)]
    grants: dict[str, list[Grant]] = {
        "gateway": [([_FIND_TOPIC], [ANY]), (["s3:GetObject"], [objects(REPORTS_PREFIX)]), listing(REPORTS_PREFIX)],
        "dispatcher": [
            (_CONSUME, queues(names.gateway_queue)),
            # its metrics: every queue's depth, a model's too when its workers are scaled to zero
            (_WATCH, queues(ResourceNames.dead_letter_queue(names.gateway_queue), *_with_dead_letters(every_lane))),
            (_PUBLISH, [topic]),
            ([_FIND_TOPIC], [ANY]),
            (["s3:GetObject"], [objects(RESULTS_PREFIX)]),
            listing(RESULTS_PREFIX),
        ],
        "monitoring-job": [
            (["s3:GetObject"], [objects(FEATURES_PREFIX)]),
            (["s3:PutObject"], [objects(REPORTS_PREFIX)]),
            listing(FEATURES_PREFIX, REPORTS_PREFIX),
        ],
        # gateway-admin dlq: look at a lane's dead letters, and move them back to the lane.
        "admin": [
            ((*_CONSUME, "sqs:SendMessage"), queues(*(ResourceNames.dead_letter_queue(q) for q in every_lane))),
            (["sqs:GetQueueUrl", "sqs:SendMessage"], queues(*every_lane)),
        ],
        "provisioner": [
            # SNS checks a subscription's attributes against the topic or the subscription (<topic ARN>:<id>).
            (
                ["sns:CreateTopic", "sns:Subscribe", "sns:SetSubscriptionAttributes"],
                [topic, Resource("topic", f"{names.topic}:*")],
            ),
            (
                ["sqs:CreateQueue", "sqs:GetQueueAttributes", "sqs:SetQueueAttributes"],
                queues(*_with_dead_letters([names.gateway_queue, *every_lane])),
            ),
            (
                [
                    "s3:CreateBucket",
                    "s3:ListBucket",
                    "s3:PutBucketPublicAccessBlock",
                    "s3:PutEncryptionConfiguration",
                    "s3:GetLifecycleConfiguration",
                    "s3:PutLifecycleConfiguration",
                ],
                [Resource("bucket", names.bucket)],
            ),
        ],
    }
    for model in models:
        grants[f"worker-{model}"] = [
            (_CONSUME, queues(*lanes(model))),
            (_PUBLISH, [topic]),
            ([_FIND_TOPIC], [ANY]),
            (["s3:PutObject"], [objects(FEATURES_PREFIX, model), objects(RESULTS_PREFIX, model)]),
        ]
    return {service: _document(service, granted, account) for service, granted in grants.items()}


def _with_dead_letters(queue_names: Iterable[str]) -> list[str]:
    return [name for queue in queue_names for name in (queue, ResourceNames.dead_letter_queue(queue))]


def _document(service: str, grants: Sequence[Grant], account: Account) -> Policy:
    sid = "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", service))
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": f"{sid}{n}",
                "Effect": "Allow",
                "Action": sorted(grant[0]),
                "Resource": sorted({account.arn(r) for r in grant[1]}),
                **({"Condition": grant[2]} if len(grant) == 3 else {}),
            }
            for n, grant in enumerate(grants, start=1)
        ],
    }


def permission_for(service: str, operation: str, params: Mapping[str, Any]) -> Permission:
    """The action and resource IAM checks for one call of `operation` with `params`.

    An object's key is kept to its folder (``features/m/v1/2026/12/07/*``): what a policy's prefix
    decides, in a bounded number of distinct permissions however many objects a process writes.
    """
    action = _ACTIONS.get((service, operation), f"{service}:{operation}")
    return Permission(action, _resource(service, params))


def _resource(service: str, params: Mapping[str, Any]) -> Resource:
    if service == "sqs":
        if "QueueUrl" in params:
            return Resource("queue", queue_name(str(params["QueueUrl"])))
        if "QueueName" in params:
            return Resource("queue", str(params["QueueName"]))
    if service == "sns":
        if "TopicArn" in params:
            return Resource("topic", str(params["TopicArn"]).rsplit(":", 1)[-1])
        if "SubscriptionArn" in params:  # <topic ARN>:<id>: IAM checks the topic's
            return Resource("topic", str(params["SubscriptionArn"]).split(":")[5])
        if "Name" in params:
            return Resource("topic", str(params["Name"]))
    if service == "s3" and "Bucket" in params:
        if "Key" in params:
            folder, _, _ = str(params["Key"]).rpartition("/")
            return Resource("object", f"{params['Bucket']}/{folder}/*" if folder else f"{params['Bucket']}/*")
        return Resource("bucket", str(params["Bucket"]))
    return ANY


def allows(policy: Policy, permission: Permission, account: Account) -> bool:
    """Whether `policy`'s Allow statements grant `permission` (on the resource as `account` names it;
    a statement's condition is taken as met: the recorded calls' parameters are not kept)."""
    arn = account.arn(permission.resource)
    for statement in policy["Statement"]:
        if statement["Effect"] != "Allow":
            continue
        if any(_matches(p, permission.action, ignore_case=True) for p in _listed(statement["Action"])) and any(
            _matches(pattern, arn) for pattern in _listed(statement["Resource"])
        ):
            return True
    return False


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def _matches(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """IAM's wildcards: ``*`` any run of characters, ``?`` one (actions match without regard to case)."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None
