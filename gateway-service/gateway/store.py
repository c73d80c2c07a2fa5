"""SQL for the gateway's tables. Functions take a Connection: the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic_core import to_json
from sqlalchemy import Connection, Row, func, literal, select, text, update
from sqlalchemy.dialects.postgresql import insert

from gateway.feedback import RequestFacts, StoredLabel
from inference_core.db.outbox import INSERT_EVENT_FROM, event_params
from inference_core.db.schema import (
    FINISHED_CHANNEL,
    LabelSource,
    RequestStatus,
    inference_requests,
    labels,
    model_actions,
)
from inference_core.events import InferenceBatchStarted, InferenceCompleted, InferenceRequested, ModelServing


@dataclass(frozen=True)
class ActionRow:
    action: str
    model_name: str
    model_version: str | None
    last_seen_at: datetime | None


# A request and its event in one statement (one round trip, atomic as any statement is).
_INSERT_REQUEST = text(
    """
    WITH inserted AS (
        INSERT INTO inference_requests (id, action, input_text, metadata, idempotency_key, request_fingerprint, status)
        SELECT :id, :action, :input_text, CAST(:metadata AS jsonb), :idempotency_key, :fingerprint, :status
        WHERE EXISTS (SELECT 1 FROM model_actions WHERE action = :action)
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING id
    )
    """
    + INSERT_EVENT_FROM.format(change="inserted")
)


def insert_request(conn: Connection, event: InferenceRequested, idempotency_key: str | None, fingerprint: str) -> bool:
    """Insert a queued request and its event in one statement.

    False, and nothing written, if the action is unknown or the idempotency key is already taken.
    """
    params = {
        "id": event.request_id,
        "action": event.action,
        "input_text": event.text,
        "metadata": to_json(event.metadata).decode(),
        "idempotency_key": idempotency_key,
        "fingerprint": fingerprint,
        "status": RequestStatus.QUEUED.value,
    }
    return conn.execute(_INSERT_REQUEST, params | event_params(event)).first() is not None


def get_request(conn: Connection, request_id: UUID) -> Row[Any] | None:
    return conn.execute(select(inference_requests).where(inference_requests.c.id == request_id)).first()


def get_by_idempotency_key(conn: Connection, key: str) -> Row[Any] | None:
    return conn.execute(select(inference_requests).where(inference_requests.c.idempotency_key == key)).first()


def mark_started(conn: Connection, event: InferenceBatchStarted) -> int:
    """queued -> running; returns how many moved.

    A request that already moved on is left alone (events may arrive out of order), and so is one
    whose row another transaction holds (SKIP LOCKED): that one is being finished, and "running"
    is informative. Never waiting for a lock, this cannot deadlock with ``record_outcomes``.
    """
    queued = (
        select(inference_requests.c.id)
        .where(
            inference_requests.c.id.in_(event.request_ids), inference_requests.c.status == RequestStatus.QUEUED.value
        )
        .with_for_update(skip_locked=True)
    )
    result = conn.execute(
        update(inference_requests)
        .where(inference_requests.c.id.in_(queued))
        .values(
            status=RequestStatus.RUNNING.value,
            started_at=event.started_at,
            model_name=event.model_name,
            model_version=event.model_version,
            updated_at=func.now(),
        )
    )
    return int(result.rowcount)


@dataclass(frozen=True)
class Finished:
    """A request this transaction finished: what its job_completed event says."""

    request_id: UUID
    action: str
    status: Literal["succeeded", "failed"]
    model_name: str
    model_version: str | None
    completed_at: datetime


_UNFINISHED = (RequestStatus.QUEUED.value, RequestStatus.RUNNING.value)

# One statement for a whole batch of outcomes: the rows arrive as one JSON array.
_RECORD_OUTCOMES = text(
    """
    UPDATE inference_requests AS r
    SET status = o.status, result = o.result, error = o.error,
        model_name = o.model_name, model_version = o.model_version,
        features_uri = o.features_uri, features_row = o.features_row,
        started_at = coalesce(r.started_at, o.started_at, o.completed_at), completed_at = o.completed_at,
        updated_at = now()
    FROM (
        SELECT DISTINCT ON (id) *
        FROM jsonb_to_recordset(CAST(:outcomes AS jsonb)) AS x(
            id uuid, status text, result jsonb, error jsonb, model_name text, model_version text,
            features_uri text, features_row integer, started_at timestamptz, completed_at timestamptz)
        ORDER BY id, status = :succeeded DESC
    ) AS o
    WHERE r.id = o.id AND r.id = ANY(:locked) AND r.status = ANY(:unfinished)
    RETURNING r.id, r.action, r.status, r.model_name, r.model_version, r.completed_at,
        pg_notify(:channel, r.id::text)
    """
)


def record_outcomes(conn: Connection, events: Sequence[InferenceCompleted]) -> list[Finished]:
    """Store each request's outcome once: the requests this call finished (a subset of `events`).

    The conditional update is the idempotency key: a redelivered or duplicated response finds
    its request already finished and changes nothing; two outcomes for one request in the same
    batch store one (a success before a failure). The unfinished rows are locked first, in id
    order, so two dispatchers applying overlapping batches wait for each other instead of
    deadlocking; the waiters are woken by a NOTIFY per finished request.
    """
    if not events:
        return []
    locked = list(
        conn.execute(
            select(inference_requests.c.id)
            .where(
                inference_requests.c.id.in_(sorted({e.request_id for e in events})),
                inference_requests.c.status.in_(_UNFINISHED),
            )
            .order_by(inference_requests.c.id)
            .with_for_update()
        ).scalars()
    )
    if not locked:
        return []
    outcomes = [
        {
            "id": str(e.request_id),
            "status": e.status,
            "result": e.result,
            "error": e.error.model_dump() if e.error else None,
            "model_name": e.model_name,
            "model_version": e.model_version,
            "features_uri": e.features_uri,
            "features_row": e.features_row,
            "started_at": e.started_at.isoformat() if e.started_at else None,
            "completed_at": e.completed_at.isoformat(),
        }
        for e in events
    ]
    rows = conn.execute(
        _RECORD_OUTCOMES,
        {
            "outcomes": to_json(outcomes).decode(),
            "locked": locked,
            "unfinished": list(_UNFINISHED),
            "succeeded": RequestStatus.SUCCEEDED.value,
            "channel": FINISHED_CHANNEL,
        },
    )
    return [Finished(r.id, r.action, r.status, r.model_name, r.model_version, r.completed_at) for r in rows]


def register_action(conn: Connection, action: str, model_name: str, label_set: Sequence[str] = ()) -> None:
    """Make an action known with its model's label set (bootstrap does this for every model folder)."""
    declared = list(label_set) or None  # null: the model's results are not labels
    conn.execute(
        insert(model_actions)
        .values(action=action, model_name=model_name, labels=declared)
        .on_conflict_do_update(index_elements=["action"], set_={"model_name": model_name, "labels": declared})
    )


def record_serving(conn: Connection, event: ModelServing) -> None:
    conn.execute(
        insert(model_actions)
        .values(
            action=event.action,
            model_name=event.model_name,
            model_version=event.model_version,
            last_seen_at=event.at,
        )
        .on_conflict_do_update(
            index_elements=["action"],
            set_={"model_name": event.model_name, "model_version": event.model_version, "last_seen_at": event.at},
            where=func.coalesce(model_actions.c.last_seen_at, event.at) <= event.at,
        )
    )


def list_actions(conn: Connection) -> list[ActionRow]:
    rows = conn.execute(select(model_actions).order_by(model_actions.c.action)).all()
    return [ActionRow(r.action, r.model_name, r.model_version, r.last_seen_at) for r in rows]


def action_exists(conn: Connection, action: str) -> bool:
    return conn.execute(select(model_actions.c.action).where(model_actions.c.action == action)).first() is not None


class PostgresFeedback:
    """The feedback use case's store, inside the caller's transaction."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def request_facts(self, request_id: UUID) -> RequestFacts | None:
        r, a = inference_requests.c, model_actions.c
        row = self._conn.execute(
            select(r.status, r.model_name, a.labels)
            .select_from(inference_requests.outerjoin(model_actions, a.model_name == r.model_name))
            .where(r.id == request_id)
            .limit(1)
        ).first()
        if row is None:
            return None
        return RequestFacts(row.status, row.model_name, tuple(row.labels or ()))

    def put_client_label(self, request_id: UUID, label: str) -> StoredLabel:
        statement = insert(labels).values(request_id=request_id, source=LabelSource.CLIENT.value, label=label)
        upsert = statement.on_conflict_do_update(
            index_elements=["request_id"],
            index_where=labels.c.source == LabelSource.CLIENT.value,
            set_={"label": statement.excluded.label, "updated_at": func.now()},
            where=labels.c.label != statement.excluded.label,
        ).returning(labels.c.created_at, labels.c.updated_at, text("xmax = 0 AS created"))
        row = self._conn.execute(upsert).first()
        if row is None:  # the same label was already stored: nothing to change
            row = self._conn.execute(
                select(labels.c.created_at, labels.c.updated_at, literal(False).label("created")).where(
                    labels.c.request_id == request_id, labels.c.source == LabelSource.CLIENT.value
                )
            ).one()
        return StoredLabel(label, row.created_at, row.updated_at, bool(row.created))


def request_labels(conn: Connection, request_id: UUID) -> list[Row[Any]]:
    """The human labels a request holds, oldest first."""
    return list(
        conn.execute(
            select(labels.c.source, labels.c.label, labels.c.annotator, labels.c.created_at, labels.c.updated_at)
            .where(labels.c.request_id == request_id)
            .order_by(labels.c.created_at, labels.c.id)
        )
    )
