"""The transactional outbox: events are written with the state change and published after.

``enqueue`` (``inference_core.db.outbox``) runs inside the caller's transaction, so an
accepted request always has its event. ``OutboxRelay`` is the only publisher: it claims up to
``CLAIM_LIMIT`` pending rows with ``FOR UPDATE SKIP LOCKED`` (several relays can run side by side),
publishes them in batches of ten and marks them published. Under load, claims are ``LINGER_SECONDS``
apart (an event waits that long at most), so that a batch carries more than the one event each
NOTIFY announces; "under load" means the last claim found several events: after a claim of one,
the next event is claimed as soon as the relay is free (one request at a time does not wait out a
linger behind the previous one's ``job_completed``). A NOTIFY of deferrable events only
(``inference_core.db.outbox.DEFERRABLE``: ``job_completed``) is answered ``DEFER_SECONDS`` later, or at
the next NOTIFY of an event someone waits for, whichever is first: they go out with the next claim, not
in a publish of their own. If SNS is down the rows wait and the relay
retries with backoff; nothing is lost, and a crash between publish and mark means a
duplicate, which consumers tolerate (delivery is at least once anyway).
"""

from __future__ import annotations

import logging
import threading
import time

import psycopg
from sqlalchemy import Connection, Engine, cast, func, select, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID

from inference_core.aws.sns import SnsPublisher
from inference_core.db.engine import listen_connection
from inference_core.db.outbox import enqueue, enqueue_many
from inference_core.db.schema import FINISHED, OUTBOX_CHANNEL, OUTBOX_DEFERRED, inference_requests, outbox
from inference_core.events import EventType, Message

__all__ = ["OutboxRelay", "enqueue", "enqueue_many", "linger_before_claim", "pending_count", "republish_unfinished"]

log = logging.getLogger(__name__)

CLAIM_LIMIT = 100  # rows per claim: ten PublishBatch calls, four at a time
# Claims are at least this far apart while events arrive faster than one per claim, so that each
# PublishBatch call carries several of them instead of one per NOTIFY.
LINGER_SECONDS = 0.025
# How long a deferrable event (job_completed) may wait for a claim to ride with.
DEFER_SECONDS = 0.05


class OutboxRelay:
    def __init__(
        self,
        engine: Engine,
        publisher: SnsPublisher,
        database_url: str,
        idle_poll_seconds: float = 1.0,
        max_backoff_seconds: float = 10.0,
        linger_seconds: float = LINGER_SECONDS,
        defer_seconds: float = DEFER_SECONDS,
    ) -> None:
        self._engine = engine
        self._publisher = publisher
        self._database_url = database_url
        self._idle_poll_seconds = idle_poll_seconds
        self._max_backoff_seconds = max_backoff_seconds
        self._linger_seconds = linger_seconds
        self._defer_seconds = defer_seconds

    def publish_pending(self, limit: int = CLAIM_LIMIT) -> int:
        """Publish up to `limit` pending events; returns how many were published.

        Raises when SNS cannot be reached; the rows stay pending.
        """
        error: Exception | None = None
        published: list[int] = []
        with self._engine.begin() as conn:
            rows = conn.execute(
                select(outbox.c.id, outbox.c.body, outbox.c.attributes)
                .where(outbox.c.published_at.is_(None))
                .order_by(outbox.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            if not rows:
                return 0
            messages = [Message(body=row.body, attributes=dict(row.attributes)) for row in rows]
            try:
                failed = set(self._publisher.publish(messages))
            except Exception as exc:
                failed, error = set(range(len(rows))), exc
            published = [row.id for i, row in enumerate(rows) if i not in failed]
            if published:
                conn.execute(update(outbox).where(outbox.c.id.in_(published)).values(published_at=func.now()))
            if failed:
                reason = error or RuntimeError("rejected by SNS")
                self._record_failure(conn, [rows[i].id for i in sorted(failed)], reason)
        if error is not None:
            raise error
        return len(published)

    def run(self, stop: threading.Event) -> None:
        """Publish until `stop` is set; woken by NOTIFY, with a slow poll as a safety net."""
        backoff = 0.0
        listener = None
        claimed_at, claimed = 0.0, 0
        while not stop.is_set():
            try:
                if listener is None:
                    listener = listen_connection(self._database_url, OUTBOX_CHANNEL)
                stop.wait(linger_before_claim(claimed, claimed_at, time.monotonic(), self._linger_seconds))
                claimed_at = time.monotonic()
                claimed = self.publish_pending()
                while not stop.is_set() and claimed == CLAIM_LIMIT:  # more may be pending
                    claimed = self.publish_pending()
                backoff = 0.0
                self._wait_for_notify(listener, stop)
            except Exception as exc:
                backoff = min(max(backoff * 2, 0.5), self._max_backoff_seconds)
                log.warning("outbox relay: %s; retrying in %.1fs", exc, backoff)
                if listener is not None and listener.closed:
                    listener = None
                stop.wait(backoff)
        if listener is not None:
            listener.close()

    def _wait_for_notify(self, listener: psycopg.Connection[tuple[object, ...]], stop: threading.Event) -> None:
        """Sleep until a NOTIFY (``defer_seconds`` after one of deferrable events only), the idle poll,
        or `stop` (checked every second)."""
        deadline = time.monotonic() + self._idle_poll_seconds
        while not stop.is_set() and (remaining := deadline - time.monotonic()) > 0:
            for notify in listener.notifies(timeout=min(1.0, remaining), stop_after=1):
                if notify.payload != OUTBOX_DEFERRED:
                    return
                deadline = min(deadline, time.monotonic() + self._defer_seconds)

    @staticmethod
    def _record_failure(conn: Connection, ids: list[int], exc: Exception) -> None:
        # Keep the count and reason on the rows so an operator can see why they wait.
        conn.execute(
            update(outbox)
            .where(outbox.c.id.in_(ids))
            .values(attempts=outbox.c.attempts + 1, last_error=str(exc)[:1000])
        )


def linger_before_claim(claimed: int, claimed_at: float, now: float, linger_seconds: float) -> float:
    """Seconds to wait before the next claim: the rest of the linger when the last claim (`claimed`
    events at `claimed_at`) found several, since events then arrive faster than one per claim and a
    moment's wait fills the next batch; none after a claim of one or none (a lone event goes at once)."""
    if claimed <= 1:
        return 0.0
    return max(0.0, claimed_at + linger_seconds - now)


def republish_unfinished(conn: Connection) -> int:
    """Make the request event of every unfinished request pending again; returns how many.

    For a broker that lost its queues: LocalStack keeps no state across restarts, so the dev
    stack calls this when it starts a fresh one. A request answered meanwhile is not harmed:
    its answer is applied once, and the worker's duplicate is ignored.
    """
    request_id = cast(cast(outbox.c.body, JSONB)["data"]["request_id"].astext, PG_UUID(as_uuid=True))
    unfinished = select(inference_requests.c.id).where(inference_requests.c.status.not_in(FINISHED))
    count = conn.execute(
        update(outbox)
        .where(
            outbox.c.event_type == EventType.INFERENCE_REQUEST.value,
            outbox.c.published_at.is_not(None),
            request_id.in_(unfinished),
        )
        .values(published_at=None)
    ).rowcount
    conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": OUTBOX_CHANNEL})
    return int(count)


def backlog(conn: Connection) -> tuple[int, float]:
    """Events not yet published, and the oldest one's age in seconds (0 when there is none)."""
    age = func.coalesce(func.extract("epoch", func.now() - func.min(outbox.c.created_at)), 0)
    count, seconds = conn.execute(select(func.count(), age).where(outbox.c.published_at.is_(None))).one()
    return int(count), float(seconds)


def pending_count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).where(outbox.c.published_at.is_(None))).scalar_one())
