"""The gateway's unit of work on PostgreSQL (see ``gateway.unit_of_work``): its SQL, one transaction each."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from pydantic_core import to_json
from sqlalchemy import Connection, Engine, Row, func, literal, literal_column, null, select, text, update
from sqlalchemy.dialects.postgresql import insert

from gateway.callbacks import Attempt, DueCallback
from gateway.feedback import RequestFacts, StoredLabel
from gateway.metrics import PlatformState
from gateway.outbox import backlog
from gateway.records import request_record
from gateway.unit_of_work import (
    ActionRow,
    Caller,
    Finished,
    HumanLabel,
    RateLimit,
    StoredRequest,
    TokenUsage,
    TokenWindow,
)
from inference_core.db.outbox import INSERT_EVENT_FROM, enqueue_many, event_params
from inference_core.db.schema import (
    FINISHED_CHANNEL,
    UNFINISHED_WHERE,
    LabelSource,
    RequestStatus,
    RunStatus,
    api_keys,
    callback_attempts,
    callback_deliveries,
    inference_requests,
    labels,
    model_actions,
    monitoring_runs,
    tenants,
    token_usage,
)
from inference_core.events import Event, InferenceBatchStarted, InferenceCompleted, InferenceRequested, ModelServing


class SqlUnitOfWork:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def transaction(self) -> Iterator[SqlTransaction]:
        with self._engine.begin() as conn:
            yield SqlTransaction(conn)


_INSERT_REQUEST = text(
    """
    WITH inserted AS (
        INSERT INTO inference_requests
            (id, tenant, action, input_text, metadata, idempotency_key, request_fingerprint, deadline_seconds,
             priority, callback_url, status, reserved_tokens, traceparent)
        SELECT :id, :tenant, :action, :input_text, CAST(:metadata AS jsonb), :idempotency_key, :fingerprint,
            :deadline_seconds, :priority, :callback_url, :status, :tokens, :traceparent
        WHERE EXISTS (SELECT 1 FROM model_actions WHERE action = :action)
        ON CONFLICT (tenant, idempotency_key) DO NOTHING
        RETURNING id
    )
    """
    + INSERT_EVENT_FROM.format(change="inserted")
)


# A tenant's quota windows: the UTC minute and the UTC day of the database's clock. The columns
# of a window that is over are reset by the next reservation (and read as empty until then). A
# window never moves back: a transaction that began in the previous minute but reaches the row
# after one of the new minute has (now() is each transaction's start) is charged to the newer
# window, never resetting it.
def _windows(at: str) -> str:
    """The minute and the day (UTC) that the time `at` falls in, as columns `minute` and `day`."""
    return f"date_trunc('minute', {at}) AS minute, date_trunc('day', {at}, 'UTC') AS day"


_WINDOWS = _windows("now()")

_RESERVE_TOKENS = text(
    f"""
    WITH charged AS (
        INSERT INTO token_usage AS u (tenant, minute_start, minute_tokens, day_start, day_tokens)
        SELECT :tenant, w.minute, :tokens, w.day, :tokens FROM (SELECT {_WINDOWS}) AS w
        ON CONFLICT (tenant) DO UPDATE SET
            minute_tokens = CASE WHEN u.minute_start >= excluded.minute_start THEN u.minute_tokens ELSE 0 END
                + excluded.minute_tokens,
            minute_start = greatest(u.minute_start, excluded.minute_start),
            day_tokens = CASE WHEN u.day_start >= excluded.day_start THEN u.day_tokens ELSE 0 END + excluded.day_tokens,
            day_start = greatest(u.day_start, excluded.day_start)
        RETURNING u.tenant, u.minute_start, u.minute_tokens, u.day_start, u.day_tokens
    )
    SELECT c.*, t.tokens_per_minute, t.tokens_per_day, now() AS now
    FROM charged AS c JOIN tenants AS t ON t.name = c.tenant
    """
)

_TOKEN_USAGE = text(
    f"""
    SELECT w.minute AS minute_start, CASE WHEN u.minute_start = w.minute THEN u.minute_tokens ELSE 0 END
            AS minute_tokens,
        w.day AS day_start, CASE WHEN u.day_start = w.day THEN u.day_tokens ELSE 0 END AS day_tokens,
        t.tokens_per_minute, t.tokens_per_day, now() AS now
    FROM tenants AS t CROSS JOIN (SELECT {_WINDOWS}) AS w LEFT JOIN token_usage AS u ON u.tenant = t.name
    WHERE t.name = :tenant
    """
)

# A finished request's tokens move from its estimate to its final figure in the windows it was
# reserved in (those of its created_at: the same transaction's now()); a window that is over is left.
_ADJUST_TOKENS = text(
    f"""
    WITH x AS (
        SELECT r.tenant, {_windows("r.created_at")}, d.delta
        FROM jsonb_to_recordset(CAST(:deltas AS jsonb)) AS d(id uuid, delta bigint)
        JOIN inference_requests AS r ON r.id = d.id
    )
    UPDATE token_usage AS u SET
        minute_tokens = greatest(0, u.minute_tokens
            + coalesce((SELECT sum(x.delta) FROM x WHERE x.tenant = u.tenant AND x.minute = u.minute_start), 0)),
        day_tokens = greatest(0, u.day_tokens
            + coalesce((SELECT sum(x.delta) FROM x WHERE x.tenant = u.tenant AND x.day = u.day_start), 0))
    WHERE u.tenant = ANY(:tenants)
    """
)

# A finished request's callback, due at once (gateway.callbacks delivers it). A request finished
# again after a redrive is called back again.
_QUEUE_CALLBACKS = text(
    """
    INSERT INTO callback_deliveries (request_id, url, next_attempt_at)
    SELECT id, callback_url, now() FROM inference_requests WHERE id = ANY(:finished) AND callback_url IS NOT NULL
    ON CONFLICT (request_id) DO UPDATE SET
        url = excluded.url, created_at = now(), attempts = 0, next_attempt_at = now(), delivered_at = NULL,
        gave_up_at = NULL
    """
)

_UNFINISHED = (RequestStatus.QUEUED.value, RequestStatus.RUNNING.value)

# One statement for a whole batch of outcomes: the rows arrive as one JSON array.
_RECORD_OUTCOMES = text(
    """
    UPDATE inference_requests AS r
    SET status = o.status, result = o.result, error = o.error,
        model_name = o.model_name, model_version = o.model_version,
        features_uri = o.features_uri, features_row = o.features_row, input_tokens = o.input_tokens,
        reserved_tokens = CASE WHEN o.status = :succeeded THEN coalesce(o.input_tokens, r.reserved_tokens) ELSE 0 END,
        started_at = coalesce(r.started_at, o.started_at, o.completed_at), completed_at = o.completed_at,
        updated_at = now()
    FROM (
        SELECT DISTINCT ON (id) *
        FROM jsonb_to_recordset(CAST(:outcomes AS jsonb)) AS x(
            id uuid, status text, result jsonb, error jsonb, model_name text, model_version text,
            features_uri text, features_row integer, started_at timestamptz, completed_at timestamptz,
            input_tokens integer)
        ORDER BY id, status = :succeeded DESC
    ) AS o
    WHERE r.id = o.id AND r.id = ANY(:locked) AND r.status = ANY(:unfinished)
    RETURNING r.id, r.tenant, r.action, r.status, r.model_name, r.model_version, r.completed_at, r.created_at,
        r.traceparent, r.reserved_tokens,
        pg_notify(:channel, r.id::text)
    """
)


_FIELDS = fields(StoredRequest)
_REQUEST_COLUMNS = [inference_requests.c[f.name] for f in _FIELDS]


class SqlTransaction:
    """``gateway.unit_of_work.Transaction`` in one database transaction (its connection's)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add_request(
        self,
        event: InferenceRequested,
        idempotency_key: str | None,
        fingerprint: str,
        tokens: int,
        callback_url: str | None = None,
    ) -> bool:
        """The request and its event in one statement (one round trip, atomic as any statement is)."""
        params = {
            "id": event.request_id,
            "tenant": event.tenant,
            "action": event.action,
            "input_text": event.text,
            "metadata": to_json(event.metadata).decode(),
            "idempotency_key": idempotency_key,
            "fingerprint": fingerprint,
            "deadline_seconds": event.deadline_seconds,
            "priority": event.priority,
            "callback_url": callback_url,
            "status": RequestStatus.QUEUED.value,
            "tokens": tokens,
            "traceparent": event.traceparent,
        }
        return self._conn.execute(_INSERT_REQUEST, params | event_params(event)).first() is not None

    def reserve_tokens(self, tenant: str, tokens: int) -> TokenUsage:
        """One statement: the tenant's row in token_usage is created, or rolled into the current windows,
        and charged. Its row lock serialises a tenant's submissions from here to their commit."""
        return _usage(self._conn.execute(_RESERVE_TOKENS, {"tenant": tenant, "tokens": tokens}).one())

    def token_usage(self, tenant: str) -> TokenUsage:
        return _usage(self._conn.execute(_TOKEN_USAGE, {"tenant": tenant}).one())

    def tokenizers(self) -> dict[str, str]:
        a = model_actions.c
        return dict(self._conn.execute(select(a.action, a.tokenizer).where(a.tokenizer.is_not(None))).tuples().all())

    def request(self, tenant: str, request_id: UUID) -> StoredRequest | None:
        r = inference_requests.c
        row = self._conn.execute(select(*_REQUEST_COLUMNS).where(r.id == request_id, r.tenant == tenant)).first()
        return StoredRequest(**row._mapping) if row else None

    def request_by_idempotency_key(self, tenant: str, key: str) -> StoredRequest | None:
        r = inference_requests.c
        row = self._conn.execute(select(*_REQUEST_COLUMNS).where(r.tenant == tenant, r.idempotency_key == key)).first()
        return StoredRequest(**row._mapping) if row else None

    def actions(self) -> list[ActionRow]:
        a = model_actions.c  # not the tokenizer: hundreds of kilobytes each
        rows = self._conn.execute(
            select(a.action, a.model_name, a.model_version, a.last_seen_at, a.labels).order_by(a.action)
        ).all()
        return [ActionRow(r.action, r.model_name, r.model_version, r.last_seen_at, tuple(r.labels or ())) for r in rows]

    def labels(self, request_id: UUID) -> list[HumanLabel]:
        rows = self._conn.execute(
            select(labels.c.source, labels.c.label, labels.c.annotator, labels.c.created_at, labels.c.updated_at)
            .where(labels.c.request_id == request_id)
            .order_by(labels.c.created_at, labels.c.id)
        )
        return [HumanLabel(**row._mapping) for row in rows]

    def request_facts(self, tenant: str, request_id: UUID) -> RequestFacts | None:
        r, a = inference_requests.c, model_actions.c
        row = self._conn.execute(
            select(r.status, r.model_name, a.labels)
            .select_from(inference_requests.outerjoin(model_actions, a.model_name == r.model_name))
            .where(r.id == request_id, r.tenant == tenant)
            .limit(1)
        ).first()
        if row is None:
            return None
        return RequestFacts(row.status, row.model_name, tuple(row.labels or ()))

    def put_client_label(self, request_id: UUID, label: str) -> StoredLabel:
        statement = insert(labels).values(request_id=request_id, source=LabelSource.CLIENT.value, label=label)
        upsert = statement.on_conflict_do_update(
            index_elements=["request_id"],
            # A literal, not a bound parameter: once psycopg prepares the statement (its sixth run on
            # a connection) the planner cannot match a parameter to the partial index's predicate.
            index_where=labels.c.source == literal_column(f"'{LabelSource.CLIENT.value}'"),
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

    def record_outcomes(self, outcomes: Sequence[InferenceCompleted]) -> list[Finished]:
        """One statement for the batch. The conditional update is the idempotency key: a redelivered
        or duplicated response finds its request already finished and changes nothing. The unfinished
        rows are locked first, in id order, so two dispatchers applying overlapping batches wait for
        each other instead of deadlocking; the waiters are woken by a NOTIFY per finished request.
        """
        if not outcomes:
            return []
        r = inference_requests.c
        reserved: dict[UUID, tuple[str | None, int]] = {
            row.id: (row.tenant, row.reserved_tokens or 0)
            for row in self._conn.execute(
                select(r.id, r.tenant, r.reserved_tokens)
                .where(r.id.in_(sorted({e.request_id for e in outcomes})), r.status.in_(_UNFINISHED))
                .order_by(r.id)
                .with_for_update()
            )
        }
        if not reserved:
            return []
        rows = [
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
                "input_tokens": e.usage.input_tokens if e.usage else None,
            }
            for e in outcomes
        ]
        finished = self._conn.execute(
            _RECORD_OUTCOMES,
            {
                "outcomes": to_json(rows).decode(),
                "locked": list(reserved),
                "unfinished": list(_UNFINISHED),
                "succeeded": RequestStatus.SUCCEEDED.value,
                "channel": FINISHED_CHANNEL,
            },
        ).all()
        self._adjust_tokens(
            {row.id: (row.reserved_tokens or 0) - reserved[row.id][1] for row in finished},
            {reserved[row.id][0] for row in finished},
        )
        if finished:
            self._conn.execute(_QUEUE_CALLBACKS, {"finished": [row.id for row in finished]})
        return [
            Finished(
                row.id,
                row.tenant,
                row.action,
                row.status,
                row.model_name,
                row.model_version,
                row.completed_at,
                row.created_at,
                row.traceparent,
            )
            for row in finished
        ]

    def _adjust_tokens(self, deltas: dict[UUID, int], holders: set[str | None]) -> None:
        """Move finished requests' tokens in their tenants' windows, the rows locked in tenant order
        (after the requests' rows, as every transaction here takes them: no cycle, no deadlock)."""
        changed = {request_id: delta for request_id, delta in deltas.items() if delta}
        names = sorted(name for name in holders if name is not None)
        if not changed or not names:
            return
        self._conn.execute(
            select(token_usage.c.tenant)
            .where(token_usage.c.tenant.in_(names))
            .order_by(token_usage.c.tenant)
            .with_for_update()
        )
        deltas_json = to_json([{"id": str(i), "delta": d} for i, d in changed.items()]).decode()
        self._conn.execute(_ADJUST_TOKENS, {"deltas": deltas_json, "tenants": names})

    def mark_started(self, event: InferenceBatchStarted) -> int:
        """SKIP LOCKED: a row another transaction holds is being finished, and "running" is only
        informative. Never waiting for a lock, this cannot deadlock with ``record_outcomes``."""
        queued = (
            select(inference_requests.c.id)
            .where(
                inference_requests.c.id.in_(event.request_ids),
                inference_requests.c.status == RequestStatus.QUEUED.value,
            )
            .with_for_update(skip_locked=True)
        )
        result = self._conn.execute(
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

    def record_serving(self, event: ModelServing) -> None:
        self._conn.execute(
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

    def publish(self, events: Sequence[Event]) -> None:
        enqueue_many(self._conn, events)

    def caller_for_key(self, key_hash: str) -> Caller | None:
        k, t = api_keys.c, tenants.c
        row = self._conn.execute(
            select(
                k.tenant,
                k.id,
                t.requests_per_second,
                t.burst,
                t.high_priority,
                t.callback_secret.is_not(None).label("can_callback"),
            )
            .select_from(api_keys.join(tenants, t.name == k.tenant))
            .where(k.key_hash == key_hash, k.revoked_at.is_(None))
        ).first()
        if row is None:
            return None
        return Caller(
            row.tenant, row.id, _rate_limit(row.requests_per_second, row.burst), row.high_priority, row.can_callback
        )


def _usage(row: Row[Any]) -> TokenUsage:
    return TokenUsage(
        now=row.now,
        windows=(
            TokenWindow(
                "minute",
                row.minute_start,
                row.minute_start + timedelta(minutes=1),
                row.minute_tokens,
                row.tokens_per_minute,
            ),
            TokenWindow("day", row.day_start, row.day_start + timedelta(days=1), row.day_tokens, row.tokens_per_day),
        ),
    )


def register_action(
    conn: Connection, action: str, model_name: str, label_set: Sequence[str] = (), tokenizer: str | None = None
) -> None:
    """Make an action known with its label set and tokenizer (``gateway-admin setup`` does, per model folder)."""
    # Labels null: the model's results are not labels. No tokenizer: the gateway bounds by bytes. A
    # caller that names no tokenizer (a tool registering an action) leaves the one stored.
    values = {"model_name": model_name, "labels": list(label_set) or None, "tokenizer": tokenizer}
    statement = insert(model_actions).values(action=action, **values)
    kept = {**values, "tokenizer": func.coalesce(statement.excluded.tokenizer, model_actions.c.tokenizer)}
    conn.execute(statement.on_conflict_do_update(index_elements=["action"], set_=kept))


# The operator's (gateway-admin): tenants and their keys.


@dataclass(frozen=True)
class KeyRow:
    id: int
    tenant: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class TokenQuota:
    """A tenant's token budget per UTC minute and per UTC day (None: no limit in that window)."""

    per_minute: int | None = None
    per_day: int | None = None


NO_TOKEN_QUOTA = TokenQuota()


@dataclass(frozen=True)
class TenantRow:
    name: str
    created_at: datetime
    rate_limit: RateLimit | None
    live_keys: int
    token_quota: TokenQuota = NO_TOKEN_QUOTA
    high_priority: bool = False


_KEY_COLUMNS = [api_keys.c[f.name] for f in fields(KeyRow)]


def create_tenant(
    conn: Connection,
    name: str,
    rate_limit: RateLimit | None,
    token_quota: TokenQuota = NO_TOKEN_QUOTA,
    high_priority: bool = False,
) -> bool:
    """False if the tenant already exists."""
    inserted = conn.execute(
        insert(tenants)
        .values(name=name, high_priority=high_priority, **_limit_columns(rate_limit), **_quota_columns(token_quota))
        .on_conflict_do_nothing()
        .returning(tenants.c.name)
    )
    return inserted.first() is not None


def set_rate_limit(conn: Connection, name: str, rate_limit: RateLimit | None) -> bool:
    """False if there is no such tenant."""
    changed = conn.execute(update(tenants).where(tenants.c.name == name).values(**_limit_columns(rate_limit)))
    return bool(changed.rowcount)


def set_token_quota(conn: Connection, name: str, token_quota: TokenQuota) -> bool:
    """False if there is no such tenant. Takes effect at the tenant's next submission."""
    changed = conn.execute(update(tenants).where(tenants.c.name == name).values(**_quota_columns(token_quota)))
    return bool(changed.rowcount)


def set_callback_secret(conn: Connection, name: str, secret: str) -> bool:
    """False if there is no such tenant. Callbacks sent from here on are signed with the new secret."""
    changed = conn.execute(update(tenants).where(tenants.c.name == name).values(callback_secret=secret))
    return bool(changed.rowcount)


def set_high_priority(conn: Connection, name: str, allowed: bool) -> bool:
    """False if there is no such tenant."""
    changed = conn.execute(update(tenants).where(tenants.c.name == name).values(high_priority=allowed))
    return bool(changed.rowcount)


def _quota_columns(token_quota: TokenQuota) -> dict[str, int | None]:
    return {"tokens_per_minute": token_quota.per_minute, "tokens_per_day": token_quota.per_day}


def _rate_limit(per_second: float | None, burst: int | None) -> RateLimit | None:
    """A tenant's limit from its columns (both null: none; the table's check keeps them together)."""
    return RateLimit(per_second, burst) if per_second is not None and burst is not None else None


def _limit_columns(rate_limit: RateLimit | None) -> dict[str, float | int | None]:
    return {
        "requests_per_second": rate_limit.per_second if rate_limit else None,
        "burst": rate_limit.burst if rate_limit else None,
    }


def list_tenants(conn: Connection) -> list[TenantRow]:
    """Each tenant with its rate limit and how many keys it holds that are not revoked."""
    t = tenants.c
    live = func.count(api_keys.c.id).filter(api_keys.c.revoked_at.is_(None))
    rows = conn.execute(
        select(
            t.name,
            t.created_at,
            t.requests_per_second,
            t.burst,
            t.tokens_per_minute,
            t.tokens_per_day,
            t.high_priority,
            live.label("live"),
        )
        .select_from(tenants.outerjoin(api_keys, api_keys.c.tenant == t.name))
        .group_by(t.name)
        .order_by(t.name)
    )
    return [
        TenantRow(
            r.name,
            r.created_at,
            _rate_limit(r.requests_per_second, r.burst),
            int(r.live),
            TokenQuota(r.tokens_per_minute, r.tokens_per_day),
            r.high_priority,
        )
        for r in rows
    ]


def tenant_exists(conn: Connection, name: str) -> bool:
    return conn.execute(select(tenants.c.name).where(tenants.c.name == name)).first() is not None


def add_key(conn: Connection, tenant: str, key_hash: str, prefix: str) -> int | None:
    """The new key's id; None if a key with this hash is already stored (for any tenant)."""
    return conn.execute(
        insert(api_keys)
        .values(tenant=tenant, key_hash=key_hash, prefix=prefix)
        .on_conflict_do_nothing(index_elements=["key_hash"])
        .returning(api_keys.c.id)
    ).scalar()


def key_by_hash(conn: Connection, key_hash: str) -> KeyRow | None:
    row = conn.execute(select(*_KEY_COLUMNS).where(api_keys.c.key_hash == key_hash)).first()
    return KeyRow(**row._mapping) if row else None


def list_keys(conn: Connection, tenant: str | None) -> list[KeyRow]:
    query = select(*_KEY_COLUMNS).order_by(api_keys.c.id)
    if tenant is not None:
        query = query.where(api_keys.c.tenant == tenant)
    return [KeyRow(**row._mapping) for row in conn.execute(query)]


def revoke_key(conn: Connection, key_id: int) -> KeyRow | None:
    """Revoke a key (once: a revoked key keeps its first revocation time); None if there is no such key."""
    k = api_keys.c
    conn.execute(update(api_keys).where(k.id == key_id, k.revoked_at.is_(None)).values(revoked_at=func.now()))
    row = conn.execute(select(*_KEY_COLUMNS).where(k.id == key_id)).first()
    return KeyRow(**row._mapping) if row else None


class SqlFailedRequests:
    """``gateway.dead_letters.FailedRequests``: each call its own transaction, so a requeue is committed
    before the message that retries it is sent."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def reasons(self, request_ids: Sequence[UUID]) -> dict[UUID, tuple[str, str | None]]:
        r = inference_requests.c
        with self._engine.connect() as conn:
            rows = conn.execute(select(r.id, r.status, r.error["message"].astext).where(r.id.in_(request_ids)))
            return {row[0]: (row[1], row[2]) for row in rows}

    def requeue(self, request_ids: Sequence[UUID]) -> int:
        r = inference_requests.c
        with self._engine.begin() as conn:
            moved = conn.execute(
                update(inference_requests)
                .where(r.id.in_(request_ids), r.status == RequestStatus.FAILED.value)
                .values(
                    status=RequestStatus.QUEUED.value,
                    error=null(),  # SQL NULL: None would store a JSON null
                    result=null(),
                    started_at=None,
                    completed_at=None,
                    updated_at=func.now(),
                )
            )
            return int(moved.rowcount)


class SqlCallbacks:
    """``gateway.callbacks.CallbackStore``: each call its own short transaction (none is held across a POST)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def claim_due(self, limit: int, lease_seconds: int) -> list[DueCallback]:
        d, r, t = callback_deliveries.c, inference_requests.c, tenants.c
        due = (
            select(d.request_id)
            .where(d.next_attempt_at <= func.now())
            .order_by(d.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        with self._engine.begin() as conn:
            claimed = conn.execute(
                update(callback_deliveries)
                .where(d.request_id.in_(due))
                .values(next_attempt_at=func.now() + func.make_interval(0, 0, 0, 0, 0, 0, lease_seconds))
                .returning(d.request_id, d.url, d.attempts, d.created_at)
            ).all()
            if not claimed:
                return []
            rows = conn.execute(
                select(*_REQUEST_COLUMNS, t.callback_secret)
                .select_from(inference_requests.join(tenants, t.name == r.tenant))
                .where(r.id.in_([c.request_id for c in claimed]))
            ).all()
        requests = {row.id: row for row in rows}
        return [
            DueCallback(
                c.request_id,
                c.url,
                c.attempts,
                c.created_at,
                request_record(StoredRequest(**{f.name: getattr(requests[c.request_id], f.name) for f in _FIELDS}), []),
                requests[c.request_id].callback_secret,
            )
            for c in claimed
            if c.request_id in requests
        ]

    def record(self, attempt: Attempt, claimed: DueCallback, delivered: bool, retry_at: datetime | None) -> None:
        d = callback_deliveries.c
        with self._engine.begin() as conn:
            still_claimed = conn.execute(
                update(callback_deliveries)
                .where(
                    d.request_id == attempt.request_id,
                    d.attempts == claimed.attempts,
                    d.created_at == claimed.finished_at,
                    d.next_attempt_at.is_not(None),
                )
                .values(
                    attempts=d.attempts + 1,
                    next_attempt_at=retry_at,
                    delivered_at=attempt.attempted_at if delivered else None,
                    gave_up_at=attempt.attempted_at if not delivered and retry_at is None else None,
                )
            )
            if not still_claimed.rowcount:
                return
            conn.execute(
                insert(callback_attempts).values(
                    request_id=attempt.request_id,
                    attempted_at=attempt.attempted_at,
                    status_code=attempt.status_code,
                    error=attempt.error,
                    duration_ms=attempt.duration_ms,
                )
            )


def platform_state(conn: Connection) -> PlatformState:
    """What the dispatcher's metrics report at a scrape (``gateway.metrics.PlatformState``)."""
    pending, oldest = backlog(conn)
    a, m = model_actions.c, monitoring_runs.c
    age = func.extract("epoch", func.now() - a.last_seen_at)
    heartbeats = {
        (row.action, row.model_name): math.inf if row.age is None else float(row.age)
        for row in conn.execute(select(a.action, a.model_name, age.label("age")))
    }
    latest = conn.execute(
        select(m.model, m.model_version, m.status)
        .distinct(m.model)
        .where(m.status.in_([RunStatus.OK.value, RunStatus.DRIFT.value]))  # a verdict, not a failed or thin run
        .order_by(m.model, m.window_end.desc(), m.finished_at.desc())  # a window judged twice: the later run
    ).all()
    verdicts = [(row.model, row.model_version, row.status == RunStatus.DRIFT.value) for row in latest]
    r = inference_requests.c
    waiting = (
        select(r.action, func.count().label("requests"), func.extract("epoch", func.now() - func.min(r.created_at)))
        .where(text(UNFINISHED_WHERE))  # the partial index's predicate: a planner uses it only when implied
        .group_by(r.action)
    )
    unfinished = {row[0]: (int(row[1]), max(0.0, float(row[2]))) for row in conn.execute(waiting)}
    return PlatformState(pending, oldest, heartbeats, verdicts, unfinished)
