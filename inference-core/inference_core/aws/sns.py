"""SNS adapter: publish encoded events to the one topic."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from inference_core.aws.limits import MAX_BATCH_ENTRIES
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
    raise TopicNotFound(f"SNS topic {name!r} does not exist; run the bootstrap (make up) first")


class SnsPublisher:
    def __init__(self, client: Any, topic_arn: str) -> None:
        self._client = client
        self.topic_arn = topic_arn

    def publish(self, messages: Sequence[Message]) -> list[int]:
        """Publish in batches of ten, the batches in parallel; returns the indexes SNS did not accept.

        Raises botocore errors when SNS cannot be reached at all.
        """
        starts = range(0, len(messages), MAX_BATCH_ENTRIES)
        if len(starts) <= 1:
            return [i for start in starts for i in self._publish_batch(messages, start)]
        with ThreadPoolExecutor(min(len(starts), _PARALLEL_BATCHES)) as pool:
            return [
                i for failed in pool.map(lambda start: self._publish_batch(messages, start), starts) for i in failed
            ]

    def _publish_batch(self, messages: Sequence[Message], start: int) -> list[int]:
        chunk = messages[start : start + MAX_BATCH_ENTRIES]
        response = self._client.publish_batch(
            TopicArn=self.topic_arn,
            PublishBatchRequestEntries=[
                {
                    "Id": str(start + i),
                    "Message": message.body,
                    "MessageAttributes": {
                        key: {"DataType": "String", "StringValue": value} for key, value in message.attributes.items()
                    },
                }
                for i, message in enumerate(chunk)
            ],
        )
        return [int(entry["Id"]) for entry in response.get("Failed", [])]
