"""The platform's tables (SQLAlchemy Core). Alembic migrations create them; keep both in step."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

metadata = MetaData()


class RequestStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


FINISHED = (RequestStatus.SUCCEEDED.value, RequestStatus.FAILED.value)

# LISTEN/NOTIFY channels; payloads are committed with the transaction that sends them.
OUTBOX_CHANNEL = "outbox_pending"
FINISHED_CHANNEL = "inference_finished"

inference_requests = Table(
    "inference_requests",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("action", Text, nullable=False),
    Column("input_text", Text, nullable=False),
    Column("metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("idempotency_key", Text, unique=True),
    Column("request_fingerprint", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("model_name", Text),
    Column("model_version", Text),
    Column("result", JSONB),
    Column("error", JSONB),
    Column("features_uri", Text),
    Column("features_row", Integer),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("started_at", DateTime(timezone=True)),
    Column("completed_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed')", name="inference_requests_status_valid"),
    Index("ix_inference_requests_action_completed_at", "action", "completed_at"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("event_type", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("attributes", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("published_at", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_error", Text),
    Index("ix_outbox_pending", "id", postgresql_where=text("published_at IS NULL")),
)

model_actions = Table(
    "model_actions",
    metadata,
    Column("action", Text, primary_key=True),
    Column("model_name", Text, nullable=False),
    Column("model_version", Text),
    Column("registered_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_seen_at", DateTime(timezone=True)),
)
