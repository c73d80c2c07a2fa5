"""The gateway's use cases as plain functions: submit a request, and apply workers' events."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import Engine

from gateway import outbox, store
from gateway.errors import IdempotencyConflict, UnknownAction
from gateway.validation import SubmitInference
from inference_core.aws.consumer import Failures
from inference_core.aws.sqs import ReceivedMessage
from inference_core.events import (
    InferenceCompleted,
    InferenceRequested,
    InferenceStarted,
    JobCompleted,
    ModelServing,
    decode,
    utcnow,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Submission:
    request_id: UUID
    status: str
    replayed: bool


def submit(engine: Engine, command: SubmitInference) -> Submission:
    """Store the request and its event in one transaction; the outbox relay publishes it."""
    with engine.begin() as conn:
        if not store.action_exists(conn, command.action):
            known = [a.action for a in store.list_actions(conn)]
            raise UnknownAction(
                f"unknown action {command.action!r}; known actions: {', '.join(known) or 'none'}",
                {"known_actions": known},
            )
        request_id = uuid.uuid4()
        inserted = store.insert_request(
            conn,
            request_id,
            command.action,
            command.text,
            command.metadata,
            command.idempotency_key,
            command.fingerprint,
        )
        if inserted:
            outbox.enqueue(
                conn,
                InferenceRequested(
                    request_id=request_id,
                    action=command.action,
                    text=command.text,
                    metadata=command.metadata,
                    submitted_at=utcnow(),
                ),
            )
            return Submission(request_id, "queued", replayed=False)
        assert command.idempotency_key is not None  # only the key's unique index can refuse an insert
        original = store.get_by_idempotency_key(conn, command.idempotency_key)
    if original is None:  # pragma: no cover - the conflicting row was deleted in between
        raise IdempotencyConflict("Idempotency-Key is being used by another request; retry")
    if original.request_fingerprint != command.fingerprint:
        raise IdempotencyConflict(
            "Idempotency-Key was already used with a different request body; use a new key",
            {"request_id": str(original.id)},
        )
    return Submission(original.id, original.status, replayed=True)


def apply_worker_events(engine: Engine, messages: Sequence[ReceivedMessage]) -> Failures:
    """Handle a batch from the gateway queue; each message in its own transaction."""
    failures: dict[str, Exception] = {}
    for message in messages:
        try:
            apply_worker_event(engine, message.body)
        except Exception as exc:
            failures[message.message_id] = exc
    return failures


def apply_worker_event(engine: Engine, body: str) -> None:
    event = decode(body)
    with engine.begin() as conn:
        if isinstance(event, InferenceStarted):
            store.mark_started(conn, event)
        elif isinstance(event, InferenceCompleted):
            if store.record_outcome(conn, event):
                outbox.enqueue(
                    conn,
                    JobCompleted(
                        request_id=event.request_id,
                        action=event.action,
                        status=event.status,
                        model_name=event.model_name,
                        model_version=event.model_version,
                        completed_at=event.completed_at,
                    ),
                )
            else:
                log.info("duplicate outcome for %s ignored", event.request_id)
        elif isinstance(event, ModelServing):
            store.record_serving(conn, event)
        else:
            raise ValueError(f"the gateway does not handle {type(event).__name__} events")
