"""SQS adapter: long-poll, delete in batches, back off by changing visibility."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from inference_core.aws.limits import MAX_BATCH_ENTRIES, MAX_VISIBILITY_SECONDS, MAX_WAIT_SECONDS


@dataclass(frozen=True)
class ReceivedMessage:
    message_id: str
    receipt_handle: str
    body: str
    receive_count: int
    sent_at: datetime | None = None  # when SQS first had it (for a dead letter: when it reached the DLQ)


def queue_name(url: str) -> str:
    """The queue's name, the last part of its URL (whatever the endpoint's style)."""
    return url.rstrip("/").rsplit("/", 1)[-1]


class SqsQueue:
    def __init__(self, client: Any, url: str) -> None:
        self._client = client
        self.url = url

    @property
    def name(self) -> str:
        return queue_name(self.url)

    @classmethod
    def named(cls, client: Any, name: str) -> SqsQueue:
        return cls(client, client.get_queue_url(QueueName=name)["QueueUrl"])

    def receive(
        self,
        max_messages: int = MAX_BATCH_ENTRIES,
        wait_seconds: int = MAX_WAIT_SECONDS,
        visibility_seconds: int | None = None,
    ) -> list[ReceivedMessage]:
        """Up to `max_messages`, hidden for the queue's visibility timeout or `visibility_seconds`."""
        visibility = {} if visibility_seconds is None else {"VisibilityTimeout": visibility_seconds}
        response = self._client.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=min(max_messages, MAX_BATCH_ENTRIES),
            WaitTimeSeconds=min(wait_seconds, MAX_WAIT_SECONDS),
            MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
            **visibility,
        )
        return [_received(m) for m in response.get("Messages", [])]

    def delete(self, messages: Sequence[ReceivedMessage]) -> list[ReceivedMessage]:
        """Delete in batches of ten; returns the messages SQS refused to delete."""
        failed: list[ReceivedMessage] = []
        for chunk in _chunks(messages):
            response = self._client.delete_message_batch(
                QueueUrl=self.url,
                Entries=[{"Id": str(i), "ReceiptHandle": m.receipt_handle} for i, m in enumerate(chunk)],
            )
            failed.extend(chunk[int(entry["Id"])] for entry in response.get("Failed", []))
        return failed

    def change_visibility(self, messages: Sequence[ReceivedMessage], seconds: int) -> None:
        """Make messages visible again after `seconds` (0 releases them at once)."""
        seconds = max(0, min(seconds, MAX_VISIBILITY_SECONDS))
        for chunk in _chunks(messages):
            self._client.change_message_visibility_batch(
                QueueUrl=self.url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": seconds}
                    for i, m in enumerate(chunk)
                ],
            )

    def send(self, body: str) -> None:
        self._client.send_message(QueueUrl=self.url, MessageBody=body)

    def approximate_depth(self) -> int:
        attributes = self._client.get_queue_attributes(
            QueueUrl=self.url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


class QueueByName:
    """A queue to read the depth of, found by name at the first read that needs it (and again after a
    failed one): a queue not created yet fails that read, not the process that watches it."""

    def __init__(self, client: Any, name: str) -> None:
        self._client = client
        self.name = name
        self._queue: SqsQueue | None = None

    def approximate_depth(self) -> int:
        if self._queue is None:
            self._queue = SqsQueue.named(self._client, self.name)
        return self._queue.approximate_depth()


def _received(message: dict[str, Any]) -> ReceivedMessage:
    attributes = message.get("Attributes", {})
    sent = attributes.get("SentTimestamp")
    return ReceivedMessage(
        message_id=message["MessageId"],
        receipt_handle=message["ReceiptHandle"],
        body=message["Body"],
        receive_count=int(attributes.get("ApproximateReceiveCount", "1")),
        sent_at=datetime.fromtimestamp(int(sent) / 1000, UTC) if sent else None,
    )


def _chunks(messages: Sequence[ReceivedMessage]) -> list[Sequence[ReceivedMessage]]:
    return [messages[i : i + MAX_BATCH_ENTRIES] for i in range(0, len(messages), MAX_BATCH_ENTRIES)]
