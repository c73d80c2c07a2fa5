"""Writing to the transactional outbox: an event is stored in the caller's transaction.

Every process that publishes events (the gateway, the monitoring job) writes them here, in
the same transaction as the state change they announce; the gateway's relay
(``gateway.outbox.OutboxRelay``) is the only process that sends them to SNS.
"""

from __future__ import annotations

from sqlalchemy import Connection, insert, text

from inference_core.db.schema import OUTBOX_CHANNEL, outbox
from inference_core.events import Event, encode


def enqueue(conn: Connection, event: Event) -> None:
    message = encode(event)
    conn.execute(
        insert(outbox).values(
            event_type=message.attributes["event_type"], body=message.body, attributes=message.attributes
        )
    )
    conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": OUTBOX_CHANNEL})
