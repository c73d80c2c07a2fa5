"""SQL for the gateway's tables. Functions take a Connection: the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, Row, func, literal, select, text, update
from sqlalchemy.dialects.postgresql import insert

from gateway.feedback import RequestFacts, StoredLabel
from inference_core.db.schema import (
    FINISHED_CHANNEL,
    LabelSource,
    RequestStatus,
    inference_requests,
    labels,
    model_actions,
)
from inference_core.events import InferenceCompleted, InferenceStarted, ModelServing


@dataclass(frozen=True)
class ActionRow:
    action: str
    model_name: str
    model_version: str | None
    last_seen_at: datetime | None


def insert_request(
    conn: Connection,
    request_id: UUID,
    action: str,
    input_text: str,
    metadata: dict[str, Any],
    idempotency_key: str | None,
    fingerprint: str,
) -> bool:
    """Insert a queued request; False if the idempotency key is already taken."""
    statement = (
        insert(inference_requests)
        .values(
            id=request_id,
            action=action,
            input_text=input_text,
            metadata=metadata,
            idempotency_key=idempotency_key,
            request_fingerprint=fingerprint,
            status=RequestStatus.QUEUED.value,
        )
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(inference_requests.c.id)
    )
    return conn.execute(statement).first() is not None


def get_request(conn: Connection, request_id: UUID) -> Row[Any] | None:
    return conn.execute(select(inference_requests).where(inference_requests.c.id == request_id)).first()


def get_by_idempotency_key(conn: Connection, key: str) -> Row[Any] | None:
    return conn.execute(select(inference_requests).where(inference_requests.c.idempotency_key == key)).first()


def mark_started(conn: Connection, event: InferenceStarted) -> bool:
    """queued -> running; a no-op when the request already moved on (events may arrive out of order)."""
    result = conn.execute(
        update(inference_requests)
        .where(inference_requests.c.id == event.request_id)
        .where(inference_requests.c.status == RequestStatus.QUEUED.value)
        .values(
            status=RequestStatus.RUNNING.value,
            started_at=event.started_at,
            model_name=event.model_name,
            model_version=event.model_version,
            updated_at=func.now(),
        )
    )
    return result.rowcount == 1


def record_outcome(conn: Connection, event: InferenceCompleted) -> bool:
    """Store the outcome once: True only for the call that finished the request.

    The conditional update is the idempotency key: a redelivered or duplicated
    response finds the request already finished and changes nothing.
    """
    result = conn.execute(
        update(inference_requests)
        .where(inference_requests.c.id == event.request_id)
        .where(inference_requests.c.status.in_([RequestStatus.QUEUED.value, RequestStatus.RUNNING.value]))
        .values(
            status=event.status,
            result=event.result,
            error=event.error.model_dump() if event.error else None,
            model_name=event.model_name,
            model_version=event.model_version,
            features_uri=event.features_uri,
            features_row=event.features_row,
            started_at=func.coalesce(inference_requests.c.started_at, event.completed_at),
            completed_at=event.completed_at,
            updated_at=func.now(),
        )
    )
    if result.rowcount != 1:
        return False
    conn.execute(text("SELECT pg_notify(:channel, :id)"), {"channel": FINISHED_CHANNEL, "id": str(event.request_id)})
    return True


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
