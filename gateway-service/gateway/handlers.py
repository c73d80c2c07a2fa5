"""The gateway's use cases as plain functions on its unit of work: submit and read a request, apply workers' events."""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from pydantic_core import from_json

from gateway.errors import (
    CallbackNotAllowed,
    ExceedsTokenQuota,
    IdempotencyConflict,
    NotFound,
    PriorityNotAllowed,
    TokenQuotaExceeded,
    UnknownAction,
)
from gateway.unit_of_work import Caller, Finished, HumanLabel, StoredRequest, TokenUsage, Transaction, UnitOfWork
from gateway.validation import SubmitInference
from inference_core import tracing
from inference_core.aws.consumer import Failures
from inference_core.aws.sqs import ReceivedMessage
from inference_core.db.schema import FINISHED
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


def submit(
    uow: UnitOfWork, caller: Caller, command: SubmitInference, tokens: int, traceparent: str | None = None
) -> Submission:
    """Store the tenant's request and its event, holding its estimated `tokens` against the tenant's
    token quota; the outbox relay publishes it, carrying the trace `traceparent` names.

    An idempotency key is the tenant's own: used again with the same body, the original request is
    the answer (whatever the quota says now); with another body, a conflict. A request that does not
    fit the quota's windows is refused, and nothing of it is kept; so is a high-priority one from a
    tenant limited to normal, and one asking for a callback from a tenant without a callback secret.
    """
    tenant = caller.tenant
    if command.priority == "high" and not caller.high_priority:
        raise PriorityNotAllowed(f"tenant {tenant} may only send normal-priority requests", {"field": "priority"})
    if command.callback_url is not None and not caller.can_callback:
        raise CallbackNotAllowed(
            f"tenant {tenant} has no callback secret to sign callbacks with; an operator makes one with "
            f"gateway-admin tenants callback-secret {tenant}",
            {"field": "callback_url"},
        )
    event = InferenceRequested(
        request_id=uuid.uuid4(),
        action=command.action,
        text=command.text,
        metadata=command.metadata,
        submitted_at=utcnow(),
        tenant=tenant,
        deadline_seconds=command.deadline_seconds,
        priority=command.priority,
        traceparent=traceparent,
    )
    with uow.transaction() as tx:
        if tx.add_request(event, command.idempotency_key, command.fingerprint, tokens, command.callback_url):
            _refuse_over_quota(tx.reserve_tokens(tenant, tokens), tokens)
            return Submission(event.request_id, "queued", replayed=False)
        known = [a.action for a in tx.actions()]
        if command.action not in known:
            raise UnknownAction(
                f"unknown action {command.action!r}; known actions: {', '.join(known) or 'none'}",
                {"known_actions": known},
            )
        assert command.idempotency_key is not None  # only the key's unique index can refuse an insert
        original = tx.request_by_idempotency_key(tenant, command.idempotency_key)
    if original is None:  # pragma: no cover - the conflicting row was deleted in between
        raise IdempotencyConflict("Idempotency-Key is being used by another request; retry")
    if original.request_fingerprint != command.fingerprint:
        raise IdempotencyConflict(
            "Idempotency-Key was already used with a different request body; use a new key",
            {"request_id": str(original.id)},
        )
    return Submission(original.id, original.status, replayed=True)


def _refuse_over_quota(usage: TokenUsage, tokens: int) -> None:
    """Raise, rolling the submission back, if its reservation took a window past its limit."""
    for window in usage.windows:
        if not window.exceeded:
            continue
        assert window.limit is not None
        details = {"window": window.name, "limit": window.limit, "used": window.used - tokens, "requested": tokens}
        if tokens > window.limit:
            raise ExceedsTokenQuota(
                f"this request's ~{tokens} tokens exceed the token quota of {window.limit} per {window.name} "
                "on their own; send a shorter text or ask for a larger quota",
                details,
            )
        retry_after = max(1, math.ceil((window.ends_at - usage.now).total_seconds()))
        raise TokenQuotaExceeded(
            f"token quota exceeded: {window.limit} tokens per {window.name}, {window.used - tokens} used in this "
            f"{window.name}, this request needs ~{tokens}; the window resets in {retry_after} s",
            details | {"resets_at": window.ends_at.isoformat()},
            retry_after,
        )


def usage(uow: UnitOfWork, tenant: str) -> TokenUsage:
    with uow.transaction() as tx:
        return tx.token_usage(tenant)


def read_request(uow: UnitOfWork, tenant: str, request_id: UUID) -> tuple[StoredRequest, list[HumanLabel]]:
    """The tenant's request and its human labels; another tenant's is not found, as an unknown one.

    Only a finished request can hold labels (people and clients label answers), so an unfinished
    one, read again and again by a ``?wait``, costs one query.
    """
    with uow.transaction() as tx:
        request = tx.request(tenant, request_id)
        if request is None:
            raise NotFound(f"no inference request {request_id}")
        return request, tx.labels(request_id) if request.status in FINISHED else []


class StoredResults(Protocol):
    """Where workers leave results too large for their messages: S3Store here, a dict in tests."""

    def get(self, uri: str) -> bytes: ...


class OutcomesObserver(Protocol):
    def applied(self, outcomes: Sequence[InferenceCompleted], finished: Sequence[Finished]) -> None:
        """A committed transaction stored `finished`, of its `outcomes` (the others were duplicates)."""


def apply_worker_events(
    uow: UnitOfWork,
    stored: StoredResults,
    messages: Sequence[ReceivedMessage],
    observer: OutcomesObserver | None = None,
) -> Failures:
    """Apply a batch from the gateway queue in one transaction; if that fails, each event in its own.

    A message that carries a batch of outcomes is applied outcome by outcome on that path, so one
    that cannot be stored fails its message (retried, in the end dead-lettered) while its neighbours
    are stored; on the retry they are duplicates, and ignored. The `observer` hears of each
    committed transaction's outcomes (the dispatcher's metrics).
    """
    failures: dict[str, Exception] = {}
    events: list[tuple[ReceivedMessage, Event]] = []
    for message in messages:
        try:
            event = decode(message.body)
            if isinstance(event, InferenceBatchCompleted):
                events.extend((message, outcome) for outcome in event.outcomes)
            elif type(event) in HANDLERS:
                events.append((message, event))
            else:
                raise MalformedEvent(f"the gateway does not handle {type(event).__name__} events")
        except MalformedEvent as exc:
            failures[message.message_id] = exc
    events = _with_results(events, stored, failures)
    if not events:
        return failures
    started = time.time_ns()
    try:
        with uow.transaction() as tx:
            finished = apply_events(tx, [event for _, event in events])
    except Exception as exc:
        if len(events) > 1:
            log.warning("a batch of %d events failed (%s); applying them one by one", len(events), exc)
        for message, event in events:
            started = time.time_ns()
            try:
                with uow.transaction() as tx:
                    finished = apply_events(tx, [event])
            except Exception as single_exc:
                failures[message.message_id] = single_exc
            else:
                _committed(observer, [event], finished, started)
    else:
        _committed(observer, [event for _, event in events], finished, started)
    return failures


def _committed(
    observer: OutcomesObserver | None, events: Sequence[Event], finished: Sequence[Finished], started_ns: int
) -> None:
    """Tell the observer, and each finished request's trace, what a committed transaction applied."""
    outcomes = [event for event in events if isinstance(event, InferenceCompleted)]
    if observer is not None and outcomes:
        observer.applied(outcomes, finished)
    if not tracing.enabled():
        return
    ended = time.time_ns()
    for request in finished:
        attributes = {"inference.request_id": str(request.request_id), "inference.status": request.status}
        tracing.record_span("inference.apply", request.traceparent, started_ns, ended, attributes)


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


def apply_events(tx: Transaction, events: Sequence[Event]) -> list[Finished]:
    """Apply workers' events in the caller's transaction, each kind by its handler in ``HANDLERS``' order;
    the requests they finished."""
    by_type: dict[type[Event], list[Event]] = {}
    for event in events:
        by_type.setdefault(type(event), []).append(event)
    finished: list[Finished] = []
    for event_type, handler in HANDLERS.items():
        if event_type in by_type:
            finished += handler(tx, by_type[event_type]) or []
    return finished


def finish(tx: Transaction, outcomes: Sequence[InferenceCompleted]) -> list[Finished]:
    """Store outcomes (each request's once) and announce each request this finished with job_completed."""
    finished = tx.record_outcomes(outcomes)
    if len(finished) < len(outcomes):
        log.info("%d duplicate outcomes ignored", len(outcomes) - len(finished))
    tx.publish(
        [
            JobCompleted(
                request_id=f.request_id,
                action=f.action,
                status=f.status,
                model_name=f.model_name,
                model_version=f.model_version,
                completed_at=f.completed_at,
                tenant=f.tenant,
            )
            for f in finished
        ]
    )
    return finished


def mark_started(tx: Transaction, events: Sequence[InferenceBatchStarted]) -> None:
    for event in events:
        tx.mark_started(event)


def mark_started_one(tx: Transaction, events: Sequence[InferenceStarted]) -> None:
    """From workers that predate batch events."""
    mark_started(tx, [as_batch(event) for event in events])


def record_serving(tx: Transaction, events: Sequence[ModelServing]) -> None:
    for event in events:
        tx.record_serving(event)


# Each kind of worker event the gateway applies, and its handler, in the order they are applied:
# outcomes lock their rows first, in id order (dispatchers side by side may wait for each other,
# never in a cycle); started events then skip the rows another transaction holds; heartbeats (one
# row per action) come last. (An inference_batch_response is applied as its outcomes.)
HANDLERS: dict[type[Event], Callable[[Transaction, Any], list[Finished] | None]] = {
    InferenceCompleted: finish,
    InferenceBatchStarted: mark_started,
    InferenceStarted: mark_started_one,
    ModelServing: record_serving,
}


def as_batch(event: InferenceStarted) -> InferenceBatchStarted:
    return InferenceBatchStarted(
        request_ids=[event.request_id],
        action=event.action,
        model_name=event.model_name,
        model_version=event.model_version,
        started_at=event.started_at,
    )
