"""Small fakes behind the project's ports, for unit tests."""

from __future__ import annotations

import copy
import dataclasses
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self

import numpy as np
import redis

from gateway.feedback import RequestFacts, StoredLabel
from gateway.unit_of_work import (
    ActionRow,
    Caller,
    Finished,
    HumanLabel,
    RateLimit,
    StoredRequest,
    TokenUsage,
    TokenWindow,
)
from inference_core.aws.s3 import ObjectMissing
from inference_core.aws.sqs import ReceivedMessage
from inference_core.events import (
    Event,
    InferenceBatchStarted,
    InferenceCompleted,
    InferenceRequested,
    Message,
    ModelServing,
    decode,
    encode,
    utcnow,
)
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
    """Length of the text as the result, its characters as the tokens it read; raises on texts containing 'boom'."""

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
        return BatchOutput(
            results=[{"length": len(t)} for t in texts], features=features, input_tokens=[len(t) for t in texts]
        )

    @classmethod
    def train(cls, artifacts_dir: Path, options: TrainOptions) -> TrainOutput:
        return TrainOutput(params={}, metrics={})

    def eval(self, options: TrainOptions) -> dict[str, float]:
        return {}


@dataclass
class _GatewayTables:
    requests: dict[uuid.UUID, StoredRequest] = field(default_factory=dict)
    idempotency_keys: dict[tuple[str | None, str], uuid.UUID] = field(default_factory=dict)
    actions: dict[str, ActionRow] = field(default_factory=dict)
    label_sets: dict[str, tuple[str, ...]] = field(default_factory=dict)  # by model name
    client_labels: dict[uuid.UUID, StoredLabel] = field(default_factory=dict)
    keys: dict[str, Caller] = field(default_factory=dict)  # live key hash -> who holds it
    published: list[Event] = field(default_factory=list)
    # Token quotas, in one window that never ends: each tenant's limit (none if absent), its tokens,
    # and each request's tokens held against it.
    token_limits: dict[str, int] = field(default_factory=dict)
    tokens_used: dict[str, int] = field(default_factory=dict)
    reserved: dict[uuid.UUID, int] = field(default_factory=dict)
    tokenizers: dict[str, str] = field(default_factory=dict)  # action -> tokenizer.json
    traceparents: dict[uuid.UUID, str] = field(default_factory=dict)


class FakeUnitOfWork:
    """The gateway's unit of work in memory: a transaction works on a copy, kept only if it ends cleanly."""

    def __init__(self) -> None:
        self.tables = _GatewayTables()
        self.commits = 0
        self.unstorable: set[uuid.UUID] = set()  # outcomes for these requests fail their transaction
        self.key_lookups = 0

    def add_action(self, action: str, model_name: str, label_set: Sequence[str] = ()) -> None:
        self.tables.actions[action] = ActionRow(action, model_name, None, None, tuple(label_set))
        self.tables.label_sets[model_name] = tuple(label_set)

    @contextmanager
    def transaction(self) -> Iterator[FakeTransaction]:
        working = copy.deepcopy(self.tables)
        yield FakeTransaction(working, self)
        self.tables = working
        self.commits += 1


class FakeTransaction:
    def __init__(self, tables: _GatewayTables, uow: FakeUnitOfWork) -> None:
        self.tables = tables
        self._uow = uow

    def add_request(
        self,
        event: InferenceRequested,
        idempotency_key: str | None,
        fingerprint: str,
        tokens: int,
        callback_url: str | None = None,
    ) -> bool:
        if event.action not in self.tables.actions:
            return False
        if idempotency_key is not None:
            if (event.tenant, idempotency_key) in self.tables.idempotency_keys:
                return False
            self.tables.idempotency_keys[(event.tenant, idempotency_key)] = event.request_id
        if event.traceparent is not None:
            self.tables.traceparents[event.request_id] = event.traceparent
        self.tables.requests[event.request_id] = StoredRequest(
            id=event.request_id,
            tenant=event.tenant,
            action=event.action,
            status="queued",
            request_fingerprint=fingerprint,
            metadata=event.metadata,
            deadline_seconds=event.deadline_seconds,
            priority=event.priority,
            callback_url=callback_url,
            created_at=event.submitted_at,
        )
        self.tables.reserved[event.request_id] = tokens
        self.publish([event])
        return True

    def reserve_tokens(self, tenant: str, tokens: int) -> TokenUsage:
        self.tables.tokens_used[tenant] = self.tables.tokens_used.get(tenant, 0) + tokens
        return self.token_usage(tenant)

    def token_usage(self, tenant: str) -> TokenUsage:
        used, limit = self.tables.tokens_used.get(tenant, 0), self.tables.token_limits.get(tenant)
        return TokenUsage(FAKE_NOW, (TokenWindow("minute", FAKE_NOW, FAKE_NOW + timedelta(seconds=30), used, limit),))

    def tokenizers(self) -> dict[str, str]:
        return dict(self.tables.tokenizers)

    def request(self, tenant: str, request_id: uuid.UUID) -> StoredRequest | None:
        request = self.tables.requests.get(request_id)
        return request if request is not None and request.tenant == tenant else None

    def request_by_idempotency_key(self, tenant: str, key: str) -> StoredRequest | None:
        request_id = self.tables.idempotency_keys.get((tenant, key))
        return self.tables.requests[request_id] if request_id else None

    def actions(self) -> list[ActionRow]:
        return sorted(self.tables.actions.values(), key=lambda a: a.action)

    def labels(self, request_id: uuid.UUID) -> list[HumanLabel]:
        label = self.tables.client_labels.get(request_id)
        return [HumanLabel("client", label.label, None, label.created_at, label.updated_at)] if label else []

    def request_facts(self, tenant: str, request_id: uuid.UUID) -> RequestFacts | None:
        request = self.request(tenant, request_id)
        if request is None:
            return None
        label_set = self.tables.label_sets.get(request.model_name or "", ())
        return RequestFacts(request.status, request.model_name, label_set)

    def put_client_label(self, request_id: uuid.UUID, label: str) -> StoredLabel:
        now = utcnow()
        before = self.tables.client_labels.get(request_id)
        stored = StoredLabel(label, before.created_at if before else now, now, created=before is None)
        self.tables.client_labels[request_id] = stored
        return stored

    def record_outcomes(self, outcomes: Sequence[InferenceCompleted]) -> list[Finished]:
        if any(o.request_id in self._uow.unstorable for o in outcomes):
            raise RuntimeError("an outcome the database refuses")
        chosen: dict[uuid.UUID, InferenceCompleted] = {}
        for outcome in outcomes:  # a success over a failure for the same request
            if outcome.request_id not in chosen or outcome.status == "succeeded":
                chosen[outcome.request_id] = outcome
        finished = []
        for request_id, outcome in sorted(chosen.items()):
            request = self.tables.requests.get(request_id)
            if request is None or request.status not in ("queued", "running"):
                continue
            self.tables.requests[request_id] = dataclasses.replace(
                request,
                status=outcome.status,
                result=outcome.result,
                error=outcome.error.model_dump() if outcome.error else None,
                model_name=outcome.model_name,
                model_version=outcome.model_version,
                completed_at=outcome.completed_at,
                input_tokens=outcome.usage.input_tokens if outcome.usage else None,
            )
            held = self.tables.reserved[request_id]
            final = (outcome.usage.input_tokens if outcome.usage else held) if outcome.status == "succeeded" else 0
            self.tables.reserved[request_id] = final
            if request.tenant is not None:
                self.tables.tokens_used[request.tenant] += final - held
            finished.append(
                Finished(
                    request_id,
                    request.tenant,
                    request.action,
                    outcome.status,
                    outcome.model_name,
                    outcome.model_version,
                    outcome.completed_at,
                    request.created_at,
                    self.tables.traceparents.get(request_id),
                )
            )
        return finished

    def mark_started(self, event: InferenceBatchStarted) -> int:
        moved = 0
        for request_id in event.request_ids:
            request = self.tables.requests.get(request_id)
            if request is not None and request.status == "queued":
                self.tables.requests[request_id] = dataclasses.replace(
                    request, status="running", started_at=event.started_at, model_name=event.model_name
                )
                moved += 1
        return moved

    def record_serving(self, event: ModelServing) -> None:
        known = self.tables.actions.get(event.action)
        if known is None or known.last_seen_at is None or known.last_seen_at <= event.at:
            labels = known.labels if known else ()
            self.tables.actions[event.action] = ActionRow(
                event.action, event.model_name, event.model_version, event.at, labels
            )

    def publish(self, events: Sequence[Event]) -> None:
        self.tables.published.extend(events)

    def caller_for_key(self, key_hash: str) -> Caller | None:
        self._uow.key_lookups += 1
        return self.tables.keys.get(key_hash)


FAKE_NOW = datetime(2026, 1, 1, tzinfo=UTC)  # the fake token quota's clock: 30 s before its window resets


@dataclass
class FakeRateLimiter:
    """Answers each acquire with the next of `waits` (0: a token was taken); `down` raises as Redis would."""

    waits: list[float] = field(default_factory=list)
    calls: list[tuple[str, RateLimit]] = field(default_factory=list)
    down: bool = False

    def acquire(self, bucket: str, limit: RateLimit) -> float:
        if self.down:
            raise redis.ConnectionError("Redis unreachable")
        self.calls.append((bucket, limit))
        return self.waits.pop(0) if self.waits else 0.0
