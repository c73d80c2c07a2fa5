"""Writing to the transactional outbox: an event is stored in the caller's transaction.

Every process that publishes events (the gateway, the monitoring job) writes them here, in
the same transaction as the state change they announce; the gateway's relay
(``gateway.outbox.OutboxRelay``) is the only process that sends them to SNS.

Each write NOTIFYs the relay. Events that nobody waits on (``DEFERRABLE``: announcements to
downstream subscribers, such as ``job_completed``) say so in the payload, and the relay claims them
a moment later rather than at once: they go out with the next claim (one request at a time, the
last request's ``job_completed`` and the next request's event share one SNS call) instead of in a
publish of their own, on the cores the client's next request needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic_core import to_json
from sqlalchemy import Connection, insert, text

from inference_core.db.schema import OUTBOX_CHANNEL, OUTBOX_DEFERRED, outbox
from inference_core.events import Event, EventType, encode

DEFERRABLE = frozenset({EventType.JOB_COMPLETED.value})


def enqueue(conn: Connection, event: Event) -> None:
    enqueue_many(conn, [event])


def enqueue_many(conn: Connection, events: Sequence[Event]) -> None:
    """Several events in one statement, one notification (deferred if every event is deferrable)."""
    if not events:
        return
    rows = [_row(event) for event in events]
    conn.execute(insert(outbox), rows)
    deferred = all(row["event_type"] in DEFERRABLE for row in rows)
    conn.execute(
        text("SELECT pg_notify(:channel, :payload)"),
        {"channel": OUTBOX_CHANNEL, "payload": OUTBOX_DEFERRED if deferred else ""},
    )


# The tail of a statement that stores an event only if a change happened: the change is a
# data-modifying CTE returning at most one row, named by the caller (``event_params`` binds the rest).
INSERT_EVENT_FROM = """
    INSERT INTO outbox (event_type, body, attributes)
    SELECT :event_type, :event_body, CAST(:event_attributes AS jsonb) FROM {change}
    RETURNING pg_notify(:outbox_channel, '')
"""


def event_params(event: Event) -> dict[str, Any]:
    """The bind parameters of ``INSERT_EVENT_FROM`` for `event`."""
    row = _row(event)
    return {
        "event_type": row["event_type"],
        "event_body": row["body"],
        "event_attributes": to_json(row["attributes"]).decode(),
        "outbox_channel": OUTBOX_CHANNEL,
    }


def _row(event: Event) -> dict[str, Any]:
    message = encode(event)
    return {"event_type": message.attributes["event_type"], "body": message.body, "attributes": message.attributes}
