"""Small fakes behind the project's ports, for unit tests."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import numpy as np

from inference_core.aws.s3 import ObjectMissing
from inference_core.aws.sqs import ReceivedMessage
from inference_core.events import Event, InferenceRequested, Message, decode, encode, utcnow
from model_runtime.base import AbstractModel, BatchOutput, TrainOptions, TrainOutput


def request_message(text: str = "fine", receive_count: int = 1, action: str = "sentiment") -> ReceivedMessage:
    event = InferenceRequested(request_id=uuid.uuid4(), action=action, text=text, submitted_at=utcnow())
    return raw_message(encode(event).body, receive_count)


def raw_message(body: str, receive_count: int = 1) -> ReceivedMessage:
    return ReceivedMessage(str(uuid.uuid4()), f"rh-{uuid.uuid4()}", body, receive_count)


@dataclass
class FakeQueue:
    url: str = "fake://queue"
    inbox: list[list[ReceivedMessage]] = field(default_factory=list)
    deleted: list[ReceivedMessage] = field(default_factory=list)
    visibility: dict[str, int] = field(default_factory=dict)

    def receive(self, max_messages: int, wait_seconds: int) -> list[ReceivedMessage]:
        if self.inbox:
            return self.inbox.pop(0)
        time.sleep(min(wait_seconds, 0.01))  # an empty long poll
        return []

    def delete(self, messages: Sequence[ReceivedMessage]) -> list[ReceivedMessage]:
        self.deleted.extend(messages)
        return []

    def change_visibility(self, messages: Sequence[ReceivedMessage], seconds: int) -> None:
        for message in messages:
            self.visibility[message.message_id] = seconds


@dataclass
class FakePublisher:
    sent: list[Message] = field(default_factory=list)
    down: bool = False
    calls: int = 0  # publish() calls that sent something
    refuse: set[int] = field(default_factory=set)  # indexes, in each publish(), that SNS refuses

    def publish(self, messages: Sequence[Message]) -> list[int]:
        if self.down:
            raise ConnectionError("SNS unreachable")
        self.calls += 1
        self.sent.extend(m for i, m in enumerate(messages) if i not in self.refuse)
        return sorted(i for i in self.refuse if i < len(messages))

    def events(self) -> list[Event]:
        return [decode(m.body) for m in self.sent]


@dataclass
class FakeFeatureSink:
    """The worker's FeatureSink, and the dispatcher's StoredResults: objects kept by URI."""

    batches: list[np.ndarray] = field(default_factory=list)
    objects: dict[str, bytes] = field(default_factory=dict)
    reads: list[str] = field(default_factory=list)
    down: bool = False

    def save_batch(self, model_name: str, model_version: str, features: np.ndarray) -> str:
        if self.down:
            raise ConnectionError("S3 unreachable")
        self.batches.append(features)
        return f"s3://fake/{model_name}/v{model_version}/{len(self.batches)}.npy"

    def save_results(self, model_name: str, model_version: str, results: bytes) -> str:
        if self.down:
            raise ConnectionError("S3 unreachable")
        uri = f"s3://fake/results/{model_name}/v{model_version}/{len(self.objects)}.json"
        self.objects[uri] = results
        return uri

    def get(self, uri: str) -> bytes:
        self.reads.append(uri)
        if self.down:
            raise ConnectionError("S3 unreachable")
        if uri not in self.objects:
            raise ObjectMissing(uri)
        return self.objects[uri]


class EchoModel(AbstractModel):
    """Length of the text as the result; raises on texts containing 'boom'."""

    predict_calls: list[list[str]]

    def __init__(self) -> None:
        self.predict_calls = []
        self.delay_seconds = 0.0  # a slow model

    @classmethod
    def load(cls, artifacts_dir: Path, device: Any) -> Self:
        return cls()

    def predict(self, texts: Sequence[str]) -> BatchOutput:
        self.predict_calls.append(list(texts))
        time.sleep(self.delay_seconds)
        if any("boom" in t for t in texts):
            raise ValueError("cannot handle boom")
        features = np.array([[len(t), 1.0] for t in texts], dtype=np.float32)
        return BatchOutput(results=[{"length": len(t)} for t in texts], features=features)

    @classmethod
    def train(cls, artifacts_dir: Path, options: TrainOptions) -> TrainOutput:
        return TrainOutput(params={}, metrics={})

    def eval(self, options: TrainOptions) -> dict[str, float]:
        return {}
