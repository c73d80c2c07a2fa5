"""The gateway's use cases as plain functions: submit a request, and apply workers' events."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from pydantic_core import from_json
from sqlalchemy import Connection, Engine

from gateway import outbox, store
from gateway.errors import IdempotencyConflict, UnknownAction
from gateway.validation import SubmitInference
from inference_core.aws.consumer import Failures
from inference_core.aws.sqs import ReceivedMessage
from inference_core.events import (
    Event,
    InferenceBatchCompleted,
    InferenceBatchStarted,
    InferenceCompleted,
    InferenceRequested,
    InferenceStarted,
    JobCompleted,
    MalformedEvent,
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
    """Store the request and its event (one statement); the outbox relay publishes it."""
    event = InferenceRequested(
        request_id=uuid.uuid4(),
        action=command.action,
        text=command.text,
        metadata=command.metadata,
        submitted_at=utcnow(),
    )
    with engine.begin() as conn:
        if store.insert_request(conn, event, command.idempotency_key, command.fingerprint):
            return Submission(event.request_id, "queued", replayed=False)
        if not store.action_exists(conn, command.action):
            known = [a.action for a in store.list_actions(conn)]
            raise UnknownAction(
                f"unknown action {command.action!r}; known actions: {', '.join(known) or 'none'}",
                {"known_actions": known},
            )
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


class StoredResults(Protocol):
    """Where workers leave results too large for their messages: S3Store here, a dict in tests."""

    def get(self, uri: str) -> bytes: ...


def apply_worker_events(engine: Engine, stored: StoredResults, messages: Sequence[ReceivedMessage]) -> Failures:
    """Apply a batch from the gateway queue in one transaction; if that fails, each event in its own.

    A message that carries a batch of outcomes is applied outcome by outcome on that path, so one
    that cannot be stored fails its message (retried, in the end dead-lettered) while its neighbours
    are stored; on the retry they are duplicates, and ignored.
    """
    failures: dict[str, Exception] = {}
    events: list[tuple[ReceivedMessage, Event]] = []
    for message in messages:
        try:
            event = decode(message.body)
            if not isinstance(event, _APPLIED):
                raise MalformedEvent(f"the gateway does not handle {type(event).__name__} events")
            if isinstance(event, InferenceBatchCompleted):
                events.extend((message, outcome) for outcome in event.outcomes)
            else:
                events.append((message, event))
        except MalformedEvent as exc:
            failures[message.message_id] = exc
    events = _with_results(events, stored, failures)
    if not events:
        return failures
    try:
        with engine.begin() as conn:
            apply_events(conn, [event for _, event in events])
    except Exception as exc:
        if len(events) > 1:
            log.warning("a batch of %d events failed (%s); applying them one by one", len(events), exc)
        for message, event in events:
            try:
                with engine.begin() as conn:
                    apply_events(conn, [event])
            except Exception as single_exc:
                failures[message.message_id] = single_exc
    return failures


_APPLIED = (InferenceBatchCompleted, InferenceCompleted, InferenceBatchStarted, InferenceStarted, ModelServing)


def _with_results(
    events: list[tuple[ReceivedMessage, Event]], stored: StoredResults, failures: dict[str, Exception]
) -> list[tuple[ReceivedMessage, Event]]:
    """Outcomes whose result travelled by reference get it back (one read per object); an object
    that cannot be read fails its messages, which are retried like any other failure."""
    arrays: dict[str, list[Any] | Exception] = {}
    resolved: list[tuple[ReceivedMessage, Event]] = []
    for message, event in events:
        if isinstance(event, InferenceCompleted) and event.result_ref is not None:
            ref = event.result_ref
            if ref.uri not in arrays:
                arrays[ref.uri] = _read_results(stored, ref.uri)
            array = arrays[ref.uri]
            if isinstance(array, Exception):
                failures[message.message_id] = array
                continue
            if ref.row >= len(array) or not isinstance(array[ref.row], dict):
                failures[message.message_id] = MalformedEvent(f"{ref.uri} has no result object at row {ref.row}")
                continue
            event = event.model_copy(update={"result": array[ref.row], "result_ref": None})
        resolved.append((message, event))
    return resolved


def _read_results(stored: StoredResults, uri: str) -> list[Any] | Exception:
    try:
        array = from_json(stored.get(uri))
    except Exception as exc:
        return exc
    return array if isinstance(array, list) else MalformedEvent(f"{uri} does not hold a JSON array of results")


def apply_events(conn: Connection, events: Sequence[Event]) -> None:
    """Apply workers' events in the caller's transaction.

    The order keeps dispatchers side by side from deadlocking: outcomes lock their rows first, in id
    order (two dispatchers may wait for each other, never in a cycle); started events then skip the
    rows another transaction holds; heartbeats (one row per action) come last.
    """
    outcomes = [e for e in events if isinstance(e, InferenceCompleted)]
    finished = store.record_outcomes(conn, outcomes)
    if len(finished) < len(outcomes):
        log.info("%d duplicate outcomes ignored", len(outcomes) - len(finished))
    outbox.enqueue_many(
        conn,
        [
            JobCompleted(
                request_id=f.request_id,
                action=f.action,
                status=f.status,
                model_name=f.model_name,
                model_version=f.model_version,
                completed_at=f.completed_at,
            )
            for f in finished
        ],
    )
    for event in events:
        if isinstance(event, InferenceBatchStarted):
            store.mark_started(conn, event)
        elif isinstance(event, InferenceStarted):  # from workers that predate batch events
            store.mark_started(conn, as_batch(event))
    for event in events:
        if isinstance(event, ModelServing):
            store.record_serving(conn, event)


def as_batch(event: InferenceStarted) -> InferenceBatchStarted:
    return InferenceBatchStarted(
        request_ids=[event.request_id],
        action=event.action,
        model_name=event.model_name,
        model_version=event.model_version,
        started_at=event.started_at,
    )
