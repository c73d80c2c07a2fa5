"""Dead letters an operator can act on: what is in a model's DLQ, why, and moving it back after a fix.

A request's message lands in its model's dead-letter queue after ``SQS_MAX_RECEIVE_COUNT`` failed
receives; on the last one the worker answered the request ``failed`` with the reason, so the
reason is read from PostgreSQL beside each message.

Invariants:

* Looking (``peek``) consumes nothing: messages are received out of sight for a moment and
  released at once.
* Redrive moves a message back only after its request is ``queued`` again (``failed`` is final
  for the gateway: an answer to a failed request would be ignored), and deletes it from the DLQ
  only once the model's queue has it. A redrive cut short leaves each message in one queue or
  both, never none; one in both is predicted twice and stored once. A redriven request's new
  outcome is announced by a second ``job_completed``.

Why not SQS's own redrive (``StartMessageMoveTask``): it moves whatever the DLQ holds when it runs,
including messages that arrived after their requests were made ``queued`` again, whose answers the
gateway would then ignore.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from inference_core.aws.sqs import ReceivedMessage
from inference_core.events import request_id_of

PEEK_VISIBILITY_SECONDS = 30  # long enough to page through a queue without meeting a message twice


class Queue(Protocol):
    def receive(
        self, max_messages: int = ..., wait_seconds: int = ..., visibility_seconds: int | None = None
    ) -> list[ReceivedMessage]: ...

    def delete(self, messages: Sequence[ReceivedMessage]) -> list[ReceivedMessage]: ...

    def change_visibility(self, messages: Sequence[ReceivedMessage], seconds: int) -> None: ...

    def send(self, body: str) -> None: ...


class FailedRequests(Protocol):
    def reasons(self, request_ids: Sequence[UUID]) -> dict[UUID, tuple[str, str | None]]:
        """Each known request's status and error message."""
        ...

    def requeue(self, request_ids: Sequence[UUID]) -> int:
        """failed -> queued (error and completion cleared); how many moved."""
        ...


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    request_id: UUID | None  # None: the body is not a request event at all
    sent_at: datetime | None
    receive_count: int
    status: str | None  # the request's, in PostgreSQL
    reason: str | None
    body: str


def peek(queue: Queue, requests: FailedRequests, limit: int) -> list[DeadLetter]:
    """Up to `limit` messages of the queue with their requests' status and reason; nothing consumed."""
    seen: dict[str, ReceivedMessage] = {}
    try:
        while len(seen) < limit:
            batch = queue.receive(min(10, limit - len(seen)), 1, PEEK_VISIBILITY_SECONDS)
            fresh = [m for m in batch if m.message_id not in seen]
            if not fresh:
                break
            seen.update((m.message_id, m) for m in fresh)
    finally:
        queue.change_visibility(list(seen.values()), 0)
    request_ids = {m.message_id: request_id_of(m.body) for m in seen.values()}
    known = requests.reasons([i for i in request_ids.values() if i is not None])
    letters = []
    for message in seen.values():
        request_id = request_ids[message.message_id]
        status, reason = known.get(request_id, (None, None)) if request_id else (None, None)
        letters.append(
            DeadLetter(
                message.message_id, request_id, message.sent_at, message.receive_count, status, reason, message.body
            )
        )
    return letters


@dataclass(frozen=True)
class Redriven:
    moved: int
    requeued: int  # of which requests that had been answered failed
    left: int  # messages left in the dead-letter queue (not asked for, or not movable)


def redrive(dead_letters: Queue, source: Queue, requests: FailedRequests, only: set[UUID] | None = None) -> Redriven:
    """Move messages back to the model's queue (those of `only`, when given), batch by batch."""
    moved = requeued = 0
    kept: dict[str, ReceivedMessage] = {}  # not asked for: released when done
    try:
        while True:
            batch = [m for m in dead_letters.receive(10, 1, PEEK_VISIBILITY_SECONDS) if m.message_id not in kept]
            if not batch:
                break
            chosen = [m for m in batch if only is None or request_id_of(m.body) in only]
            kept.update((m.message_id, m) for m in batch if m not in chosen)
            requeued += requests.requeue([i for m in chosen if (i := request_id_of(m.body)) is not None])
            for message in chosen:
                source.send(message.body)
            dead_letters.delete(chosen)
            moved += len(chosen)
    finally:
        dead_letters.change_visibility(list(kept.values()), 0)
    return Redriven(moved, requeued, len(kept))


def describe(letter: DeadLetter) -> dict[str, Any]:
    return {
        "message_id": letter.message_id,
        "request_id": str(letter.request_id) if letter.request_id else None,
        "sent_at": letter.sent_at.isoformat() if letter.sent_at else None,
        "receive_count": letter.receive_count,
        "status": letter.status,
        "reason": letter.reason,
    }
