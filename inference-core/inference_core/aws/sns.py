"""SNS adapter: publish encoded events to the one topic."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from inference_core.aws.limits import MAX_BATCH_ENTRIES, MAX_SNS_MESSAGE_BYTES
from inference_core.events import Message

# PublishBatch calls in flight for one publish(); the client's connection pool allows more.
_PARALLEL_BATCHES = 4


class Publisher(Protocol):
    """The port publishers implement: SnsPublisher here, fakes in unit tests."""

    def publish(self, messages: Sequence[Message]) -> list[int]: ...


class TopicNotFound(LookupError):
    pass


def find_topic_arn(client: Any, name: str) -> str:
    """The ARN of the topic called `name`; raises TopicNotFound if it does not exist."""
    for page in client.get_paginator("list_topics").paginate():
        for topic in page.get("Topics", []):
            if topic["TopicArn"].rsplit(":", 1)[-1] == name:
                return str(topic["TopicArn"])
    raise TopicNotFound(f"SNS topic {name!r} does not exist; run `inference-aws provision` (make up does) first")


class SnsPublisher:
    def __init__(self, client: Any, topic_arn: str) -> None:
        self._client = client
        self.topic_arn = topic_arn

    def publish(self, messages: Sequence[Message]) -> list[int]:
        """Publish in batches (ten messages, 256 KiB in all at most), the batches in parallel; returns the
        indexes SNS did not accept.

        Raises botocore errors when SNS cannot be reached at all.
        """
        batches = publish_batches(messages)
        if len(batches) <= 1:
            return [i for batch in batches for i in self._publish_batch(messages, batch)]
        with ThreadPoolExecutor(min(len(batches), _PARALLEL_BATCHES)) as pool:
            return [
                i for failed in pool.map(lambda batch: self._publish_batch(messages, batch), batches) for i in failed
            ]

    def _publish_batch(self, messages: Sequence[Message], batch: range) -> list[int]:
        response = self._client.publish_batch(
            TopicArn=self.topic_arn,
            PublishBatchRequestEntries=[
                {
                    "Id": str(i),
                    "Message": messages[i].body,
                    "MessageAttributes": {
                        key: {"DataType": "String", "StringValue": value}
                        for key, value in messages[i].attributes.items()
                    },
                }
                for i in batch
            ],
        )
        return [int(entry["Id"]) for entry in response.get("Failed", [])]


def publish_batches(messages: Sequence[Message]) -> list[range]:
    """Consecutive runs of messages that one PublishBatch call takes: at most ten entries and
    ``MAX_SNS_MESSAGE_BYTES`` in all (a message that large on its own goes alone)."""
    batches: list[range] = []
    start, total = 0, 0
    for i, message in enumerate(messages):
        size = message_bytes(message)
        if i > start and (i - start == MAX_BATCH_ENTRIES or total + size > MAX_SNS_MESSAGE_BYTES):
            batches.append(range(start, i))
            start, total = i, 0
        total += size
    if messages:
        batches.append(range(start, len(messages)))
    return batches


def message_bytes(message: Message) -> int:
    """What SNS counts against its size limits: the body, and each attribute's name, type and value."""
    attributes = sum(len(k.encode()) + len("String") + len(v.encode()) for k, v in message.attributes.items())
    return len(message.body.encode()) + attributes
