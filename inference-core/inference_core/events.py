"""The events that cross the topic, and their wire format.

Every message on the `inference-events` topic has:

* a JSON body ``{"schema_version": 1, "event_type": "...", "data": {...}}``;
* the message attributes ``event_type`` (always), ``action`` (for events about one request) and
  ``priority`` (on an ``inference_request`` that has one), which the SQS subscriptions filter on.

Events are named for what happened. Bump ``SCHEMA_VERSION`` for any change a
reader of the previous version could not parse.

How the contract evolves without every service deploying at once: a new kind of event is a new
``event_type`` (additive: queues only receive the types their subscription's filter lists, so a
reader never sees one it does not know); deploy its readers first and add it to their filter, then
its writers; keep reading the old type until no writer sends it. ``inference_batch_started``
replaced per-request ``inference_started`` events this way (one event per batch instead of one per
request), and ``inference_batch_response`` replaced per-request ``inference_response`` events (a
worker's answers for a batch in one message: one publish, one receive and one delete per batch
instead of per request); the gateway still applies the old types. A new optional field is additive too, readers first: a
reader refuses a field it does not know (``extra="forbid"``), so an event it cannot fully read is
retried and in the end dead-lettered, never half-read. ``InferenceCompleted.result_ref`` came this
way (a result too large for the message is stored beside the batch's features and referenced),
and so did ``tenant`` on ``InferenceRequested`` and ``JobCompleted`` (whose request it is, for
workers and downstream systems to group by; workers deploy before the gateway that sends it),
``deadline_seconds`` and ``priority`` (with its message attribute, which the model's subscriptions
route on; a request without one is normal) on ``InferenceRequested``, and ``usage`` on
``InferenceCompleted`` (the tokens the model read, which the gateway bills and adjusts the
tenant's quota to). A new value of a field is additive the same way: the outcome status
``expired`` (a worker's answer for a request past its deadline) is read by gateways that deploy
before the workers that send it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import from_json, to_json

SCHEMA_VERSION = 1


class EventType(StrEnum):
    INFERENCE_REQUEST = "inference_request"
    INFERENCE_STARTED = "inference_started"
    INFERENCE_BATCH_STARTED = "inference_batch_started"
    INFERENCE_RESPONSE = "inference_response"
    INFERENCE_BATCH_RESPONSE = "inference_batch_response"
    JOB_COMPLETED = "job_completed"
    MODEL_SERVING = "model_serving"
    DRIFT_DETECTED = "drift_detected"


# How a request ended: "expired" when it waited in its model's queue past its deadline (not computed).
OutcomeStatus = Literal["succeeded", "failed", "expired"]

# Which of its model's queues a request goes to: "high" has a queue of its own, drained first.
Priority = Literal["high", "normal"]
PRIORITIES: tuple[Priority, ...] = ("high", "normal")


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class InferenceRequested(_Event):
    """A client asked for `action` to be run on `text`."""

    request_id: UUID
    action: str
    text: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    submitted_at: datetime
    tenant: str | None = None  # None from gateways that predate tenants
    # Not computed if it has waited this long in its model's queue (SQS message age); None: no deadline.
    deadline_seconds: int | None = Field(default=None, ge=1)
    priority: Priority | None = None  # None: normal (and from gateways that predate priorities)
    # The W3C trace context of its submission (inference_core.tracing), also its message attribute;
    # None when the gateway records no traces (or predates them).
    traceparent: str | None = None


class InferenceStarted(_Event):
    """A model worker took the request into a batch."""

    request_id: UUID
    action: str
    model_name: str
    model_version: str
    started_at: datetime


class InferenceBatchStarted(_Event):
    """A model worker took these requests into one batch (one event, one publish, one update per batch)."""

    request_ids: list[UUID] = Field(min_length=1)
    action: str
    model_name: str
    model_version: str
    started_at: datetime


class ErrorInfo(_Event):
    code: str
    message: str


class Usage(_Event):
    """What a request cost its model: the tokens it read (after the model's own truncation)."""

    input_tokens: int = Field(ge=0)


class ResultRef(_Event):
    """Where a result too large to travel in its message is: element ``row`` of the JSON array at ``uri``."""

    uri: str
    row: int = Field(ge=0)


class InferenceCompleted(_Event):
    """A model worker finished the request, successfully or for good."""

    request_id: UUID
    action: str
    status: OutcomeStatus
    model_name: str
    model_version: str | None = None
    result: dict[str, Any] | None = None
    result_ref: ResultRef | None = None  # instead of ``result``, when it is large
    error: ErrorInfo | None = None
    features_uri: str | None = None
    features_row: int | None = None
    # When its batch began predicting: exact even when no inference_batch_started was announced
    # (None from workers that predate it, and on failures answered without a prediction).
    started_at: datetime | None = None
    completed_at: datetime
    usage: Usage | None = None  # on a success, from a model that counts its tokens


class InferenceBatchCompleted(_Event):
    """A model worker's outcomes for one batch, or for a part of one that fits a message."""

    action: str
    outcomes: list[InferenceCompleted] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_action(self) -> InferenceBatchCompleted:
        if any(o.action != self.action for o in self.outcomes):
            raise ValueError(f"every outcome of an {self.action!r} batch must be for {self.action!r}")
        return self


class JobCompleted(_Event):
    """The gateway stored the outcome of a request; clients may fetch it."""

    request_id: UUID
    action: str
    status: OutcomeStatus
    model_name: str
    model_version: str | None = None
    completed_at: datetime
    tenant: str | None = None  # None for requests stored before tenants


class ModelServing(_Event):
    """A worker is up and serving `action` with this model version (sent on start and as a heartbeat)."""

    action: str
    model_name: str
    model_version: str
    at: datetime


class DriftedMetric(_Event):
    metric: str
    method: str
    score: float
    threshold: float


class DriftDetected(_Event):
    """The monitoring job judged a model version's traffic in a window drifted from its reference."""

    run_id: UUID
    action: str
    model_name: str
    model_version: str
    window_start: datetime
    window_end: datetime
    reference: str
    drifted: list[DriftedMetric]


Event = (
    InferenceRequested
    | InferenceStarted
    | InferenceBatchStarted
    | InferenceCompleted
    | InferenceBatchCompleted
    | JobCompleted
    | ModelServing
    | DriftDetected
)

EVENT_TYPES: dict[type[_Event], EventType] = {
    InferenceRequested: EventType.INFERENCE_REQUEST,
    InferenceStarted: EventType.INFERENCE_STARTED,
    InferenceBatchStarted: EventType.INFERENCE_BATCH_STARTED,
    InferenceCompleted: EventType.INFERENCE_RESPONSE,
    InferenceBatchCompleted: EventType.INFERENCE_BATCH_RESPONSE,
    JobCompleted: EventType.JOB_COMPLETED,
    ModelServing: EventType.MODEL_SERVING,
    DriftDetected: EventType.DRIFT_DETECTED,
}
_CLASSES: dict[EventType, type[_Event]] = {v: k for k, v in EVENT_TYPES.items()}


class MalformedEvent(ValueError):
    """A message body is not an event this version of the code can read."""


@dataclass(frozen=True)
class Message:
    """An event encoded for SNS: a body and the attributes subscriptions filter on."""

    body: str
    attributes: dict[str, str]


def utcnow() -> datetime:
    return datetime.now(UTC)


def encode(event: Event) -> Message:
    event_type = EVENT_TYPES[type(event)]
    # pydantic's own serializer: compact, UTF-8 kept as is, and ten times json.dumps' speed on a
    # result of a few hundred floats (an embedding), which every answer carries.
    envelope = {"schema_version": SCHEMA_VERSION, "event_type": event_type.value, "data": event}
    attributes = {"event_type": event_type.value, "action": event.action}
    if isinstance(event, InferenceRequested):
        if event.priority is not None:
            attributes["priority"] = event.priority  # the model's subscriptions route on it
        if event.traceparent is not None:
            attributes["traceparent"] = event.traceparent  # W3C trace context, where tracers look for it
    return Message(body=to_json(envelope).decode(), attributes=attributes)


def decode(body: str) -> Event:
    try:
        envelope = from_json(body)
    except ValueError as exc:
        raise MalformedEvent(f"message body is not JSON: {exc}") from exc
    if not isinstance(envelope, dict):
        raise MalformedEvent("message body is not a JSON object")
    if envelope.get("schema_version") != SCHEMA_VERSION:
        raise MalformedEvent(
            f"unsupported schema_version {envelope.get('schema_version')!r}; this reader knows {SCHEMA_VERSION}"
        )
    try:
        cls = _CLASSES[EventType(str(envelope.get("event_type")))]
    except ValueError as exc:
        raise MalformedEvent(f"unknown event_type {envelope.get('event_type')!r}") from exc
    try:
        return cls.model_validate(envelope.get("data"))  # type: ignore[return-value]
    except ValidationError as exc:
        raise MalformedEvent(f"invalid {cls.__name__}: {exc.errors(include_url=False)}") from exc


def request_id_of(body: str) -> UUID | None:
    """The request id of a message, even one that is not a valid event (a poison message's, say)."""
    try:
        envelope = from_json(body)
        return UUID(str(envelope["data"]["request_id"]))
    except (ValueError, KeyError, TypeError):
        return None


def encode_outcomes(
    action: str, outcomes: Sequence[InferenceCompleted], max_bytes: int
) -> list[tuple[Message, Sequence[InferenceCompleted]]]:
    """Outcomes for `action` in as few ``inference_batch_response`` messages as fit `max_bytes` each,
    in order, each with the outcomes it carries.

    A batch too large for one message is halved until its parts fit; an outcome too large on its own
    still gets its message, which SNS refuses, so that its request is retried and not dropped here.
    """
    if not outcomes:
        return []
    message = encode(InferenceBatchCompleted(action=action, outcomes=list(outcomes)))
    if len(message.body.encode()) <= max_bytes or len(outcomes) == 1:
        return [(message, outcomes)]
    half = len(outcomes) // 2
    return encode_outcomes(action, outcomes[:half], max_bytes) + encode_outcomes(action, outcomes[half:], max_bytes)
