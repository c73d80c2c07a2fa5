"""SQL for the gateway's tables. Functions take a Connection: the caller owns the transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, Row, func, select, text, update
from sqlalchemy.dialects.postgresql import insert

from inference_core.db.schema import FINISHED_CHANNEL, RequestStatus, inference_requests, model_actions
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


def register_action(conn: Connection, action: str, model_name: str) -> None:
    """Make an action known (bootstrap does this for every model folder)."""
    conn.execute(
        insert(model_actions)
        .values(action=action, model_name=model_name)
        .on_conflict_do_update(index_elements=["action"], set_={"model_name": model_name})
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
