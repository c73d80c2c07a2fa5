"""Writing to the transactional outbox: an event is stored in the caller's transaction.

Every process that publishes events (the gateway, the monitoring job) writes them here, in
the same transaction as the state change they announce; the gateway's relay
(``gateway.outbox.OutboxRelay``) is the only process that sends them to SNS.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import CTE, Connection, func, insert, literal, select, text
from sqlalchemy.dialects.postgresql import JSONB

from inference_core.db.schema import OUTBOX_CHANNEL, outbox
from inference_core.events import Event, encode


def enqueue(conn: Connection, event: Event) -> None:
    enqueue_many(conn, [event])


def enqueue_many(conn: Connection, events: Sequence[Event]) -> None:
    """Several events in one statement, one notification."""
    if not events:
        return
    conn.execute(insert(outbox), [_row(event) for event in events])
    conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": OUTBOX_CHANNEL})


def enqueue_if_inserted(conn: Connection, event: Event, inserted: CTE) -> bool:
    """Store `event` in the same statement as the change it announces, if that change happened.

    `inserted` is a data-modifying CTE (``INSERT ... RETURNING``) yielding at most one row: the
    event is stored, and the relay notified, only if it yields one. One round trip for both
    writes, atomic as a single statement is. True if the event was stored.
    """
    row = _row(event)
    values = select(literal(row["event_type"]), literal(row["body"]), literal(row["attributes"], JSONB)).select_from(
        inserted
    )
    statement = insert(outbox).from_select(list(row), values).returning(func.pg_notify(OUTBOX_CHANNEL, ""))
    return conn.execute(statement).first() is not None


def _row(event: Event) -> dict[str, Any]:
    message = encode(event)
    return {"event_type": message.attributes["event_type"], "body": message.body, "attributes": message.attributes}
