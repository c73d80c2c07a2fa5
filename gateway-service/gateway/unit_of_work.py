"""The gateway's one port to its database: a unit of work, and what a transaction can do.

A use case opens a transaction (``with uow.transaction() as tx:``) and works through ``tx``:
everything it wrote commits together when the block ends, and nothing does when it raises. Events
it hands to ``tx.publish`` go to the outbox in the same transaction, so they are published if and
only if it commits. ``gateway.store.SqlUnitOfWork`` is PostgreSQL; ``tests/support/fakes.py``
holds one in memory that the use cases' unit tests run on.

Every read of a request names its tenant: another tenant's request is not found, exactly as an
unknown one is.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from gateway.feedback import RequestFacts, StoredLabel
from inference_core.events import (
    Event,
    InferenceBatchStarted,
    InferenceCompleted,
    InferenceRequested,
    ModelServing,
    OutcomeStatus,
)


@dataclass(frozen=True)
class StoredRequest:
    """A request as its client reads it back."""

    id: UUID
    tenant: str | None
    action: str
    status: str
    request_fingerprint: str
    metadata: dict[str, Any]
    deadline_seconds: int | None = None
    priority: str | None = None
    callback_url: str | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    model_name: str | None = None
    model_version: str | None = None
    features_uri: str | None = None
    features_row: int | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    input_tokens: int | None = None


@dataclass(frozen=True)
class TokenWindow:
    """A tenant's tokens in one of its current quota windows (a UTC minute, a UTC day)."""

    name: str  # "minute" | "day"
    starts_at: datetime
    ends_at: datetime
    used: int
    limit: int | None  # None: no limit

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else max(0, self.limit - self.used)

    @property
    def exceeded(self) -> bool:
        return self.limit is not None and self.used > self.limit


@dataclass(frozen=True)
class TokenUsage:
    """A tenant's windows as of `now` (the database's clock, which every gateway process shares)."""

    now: datetime
    windows: tuple[TokenWindow, ...]


@dataclass(frozen=True)
class RateLimit:
    """A token bucket: `burst` requests at once, refilled at `per_second`."""

    per_second: float
    burst: int


@dataclass(frozen=True)
class Caller:
    """Who holds a live API key: its tenant, which key, the tenant's rate limit (None: no limit), and
    whether the tenant may send high-priority requests and ask for callbacks."""

    tenant: str
    key_id: int
    rate_limit: RateLimit | None = None
    high_priority: bool = False
    can_callback: bool = False  # holds a callback secret


@dataclass(frozen=True)
class ActionRow:
    action: str
    model_name: str
    model_version: str | None
    last_seen_at: datetime | None
    labels: tuple[str, ...] = ()  # its model's label set, when its results are labels


@dataclass(frozen=True)
class HumanLabel:
    source: str
    label: str
    annotator: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Finished:
    """A request a transaction finished: what its job_completed event says."""

    request_id: UUID
    tenant: str | None
    action: str
    status: OutcomeStatus
    model_name: str
    model_version: str | None
    completed_at: datetime
    submitted_at: datetime | None  # when the gateway accepted it
    traceparent: str | None = None  # the trace its submission started


class Transaction(Protocol):
    # Requests, as clients submit and read them.
    def add_request(
        self,
        event: InferenceRequested,
        idempotency_key: str | None,
        fingerprint: str,
        tokens: int,
        callback_url: str | None = None,
    ) -> bool:
        """Store a queued request (holding `tokens` of its tenant's quota) and publish its event; False,
        and nothing written, if its action is unknown or its tenant already used the idempotency key."""
        ...

    def reserve_tokens(self, tenant: str, tokens: int) -> TokenUsage:
        """Add `tokens` to the tenant's current windows and return them, this reservation included. The
        windows stay locked until the transaction ends: a caller that finds one exceeded rolls back, and
        concurrent reservations, which wait, never see more than what fits."""
        ...

    def token_usage(self, tenant: str) -> TokenUsage: ...

    def tokenizers(self) -> dict[str, str]:
        """Each action's tokenizer.json, for the actions whose model declares one."""
        ...

    def request(self, tenant: str, request_id: UUID) -> StoredRequest | None: ...

    def request_by_idempotency_key(self, tenant: str, key: str) -> StoredRequest | None: ...

    def actions(self) -> list[ActionRow]:
        """The action catalogue, by action."""
        ...

    def labels(self, request_id: UUID) -> list[HumanLabel]:
        """The human labels a request holds, oldest first."""
        ...

    # Client feedback (gateway.feedback).
    def request_facts(self, tenant: str, request_id: UUID) -> RequestFacts | None: ...

    def put_client_label(self, request_id: UUID, label: str) -> StoredLabel: ...

    # Workers' events.
    def record_outcomes(self, outcomes: Sequence[InferenceCompleted]) -> list[Finished]:
        """Store each unfinished request's outcome once (a success over a failure for the same request):
        the requests this call finished. Each one's tokens held against its tenant's quota become what
        its model read (the estimate, if the worker did not say), or none if it failed or expired."""
        ...

    def mark_started(self, event: InferenceBatchStarted) -> int:
        """queued -> running, leaving any request that moved on (or that another transaction holds)."""
        ...

    def record_serving(self, event: ModelServing) -> None:
        """A worker's heartbeat, unless a later one is already stored."""
        ...

    def publish(self, events: Sequence[Event]) -> None:
        """Publish after commit (the outbox)."""
        ...

    # Authentication.
    def caller_for_key(self, key_hash: str) -> Caller | None:
        """Who holds this API key, if it is not revoked."""
        ...


class UnitOfWork(Protocol):
    def transaction(self) -> AbstractContextManager[Transaction]: ...
