"""The platform's tables (SQLAlchemy Core). Alembic migrations create them; keep both in step."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
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
    EXPIRED = "expired"  # still queued past its deadline: not computed


FINISHED = (RequestStatus.SUCCEEDED.value, RequestStatus.FAILED.value, RequestStatus.EXPIRED.value)
UNFINISHED_WHERE = "status IN ('queued', 'running')"  # the predicate of the index of waiting requests

# LISTEN/NOTIFY channels; payloads are committed with the transaction that sends them.
OUTBOX_CHANNEL = "outbox_pending"  # payload: empty, or OUTBOX_DEFERRED when only deferrable events were written
OUTBOX_DEFERRED = "deferred"
FINISHED_CHANNEL = "inference_finished"

# Who may submit and read: a tenant, and its API keys (only their SHA-256 is stored).
tenants = Table(
    "tenants",
    metadata,
    Column("name", Text, primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Each key's token bucket: `burst` requests at once, refilled at this rate; null: no limit.
    Column("requests_per_second", Float),
    Column("burst", Integer),
    CheckConstraint(
        "(requests_per_second IS NULL AND burst IS NULL) OR (requests_per_second > 0 AND burst >= 1)",
        name="tenants_rate_limit_valid",
    ),
    # Token budgets for the whole tenant, per UTC minute and per UTC day; null: no limit.
    Column("tokens_per_minute", BigInteger),
    Column("tokens_per_day", BigInteger),
    CheckConstraint(
        "coalesce(tokens_per_minute, 1) >= 1 AND coalesce(tokens_per_day, 1) >= 1", name="tenants_token_quota_valid"
    ),
    # May send "priority": "high" (its model's priority lane); otherwise normal only.
    Column("high_priority", Boolean, nullable=False, server_default=text("false")),
    Column("callback_secret", Text),  # signs its callbacks (HMAC-SHA256); null: it cannot ask for callbacks
)

# A tenant's tokens in its current windows (gateway.store: reserved at submit, adjusted to what the
# model read when the request finishes, released when it fails or expires). A window whose start is
# not the current minute (day) counts as empty.
token_usage = Table(
    "token_usage",
    metadata,
    Column("tenant", Text, ForeignKey("tenants.name"), primary_key=True),
    Column("minute_start", DateTime(timezone=True), nullable=False),
    Column("minute_tokens", BigInteger, nullable=False),
    Column("day_start", DateTime(timezone=True), nullable=False),
    Column("day_tokens", BigInteger, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("tenant", Text, ForeignKey("tenants.name"), nullable=False),
    Column("key_hash", Text, nullable=False, unique=True),
    Column("prefix", Text, nullable=False),  # the key's first characters, to tell keys apart in listings
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("revoked_at", DateTime(timezone=True)),
    Index("ix_api_keys_tenant", "tenant"),
)

inference_requests = Table(
    "inference_requests",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant", Text, ForeignKey("tenants.name")),  # null only for requests stored before tenants
    Column("action", Text, nullable=False),
    Column("input_text", Text, nullable=False),
    Column("metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("idempotency_key", Text),
    Column("request_fingerprint", Text, nullable=False),
    Column("deadline_seconds", Integer),
    Column("priority", Text),  # "high" or "normal" as sent; null: not given (normal)
    Column("callback_url", Text),  # POSTed the final record when the request finishes
    Column("traceparent", Text),  # the trace its submission started (inference_core.tracing)
    Column("status", Text, nullable=False),
    Column("model_name", Text),
    Column("model_version", Text),
    Column("result", JSONB),
    Column("error", JSONB),
    Column("features_uri", Text),
    Column("features_row", Integer),
    Column("reserved_tokens", Integer),  # what the request counts against its tenant's windows now
    Column("input_tokens", Integer),  # what its model read (the worker's usage): the billed figure
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("started_at", DateTime(timezone=True)),
    Column("completed_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint(
        "status IN ('queued', 'running', 'succeeded', 'failed', 'expired')", name="inference_requests_status_valid"
    ),
    CheckConstraint("priority IN ('high', 'normal')", name="inference_requests_priority_valid"),
    UniqueConstraint("tenant", "idempotency_key", name="inference_requests_tenant_idempotency_key"),
    Index("ix_inference_requests_action_completed_at", "action", "completed_at"),
    Index("ix_inference_requests_model_completed_at", "model_name", "completed_at"),  # monitoring windows
    Index("ix_inference_requests_tenant_created_at", "tenant", "created_at"),  # usage for billing
    # requests waiting for an answer, per action (the dispatcher's metrics read them at every scrape)
    Index("ix_inference_requests_unfinished", "action", "created_at", postgresql_where=text(UNFINISHED_WHERE)),
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
    Column("labels", JSONB),  # the label set its model.toml declares; null when its results are not labels
    Column("tokenizer", Text),  # its model's tokenizer.json, which the gateway estimates tokens with
    Column("registered_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_seen_at", DateTime(timezone=True)),
)


class RunStatus(StrEnum):
    OK = "ok"
    DRIFT = "drift"
    INSUFFICIENT_DATA = "insufficient_data"
    FAILED = "failed"


# One monitoring run: one model version's traffic in one window, judged against one reference.
monitoring_runs = Table(
    "monitoring_runs",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("model", Text, nullable=False),
    Column("model_version", Text, nullable=False),
    Column("window_start", DateTime(timezone=True), nullable=False),
    Column("window_end", DateTime(timezone=True), nullable=False),
    Column("reference", Text, nullable=False),  # "version" (its own sample) or "trailing:<n>d"
    Column("status", Text, nullable=False),
    Column("requests", Integer, nullable=False),  # finished requests the version served in the window
    Column("judged_rows", Integer, nullable=False),  # of which judged (a sample when there are many)
    Column("reference_rows", Integer, nullable=False),
    Column("sampling", Text),  # how the judged rows were chosen, when not all were
    Column("reason", Text),  # why a run failed
    Column("report_key", Text),  # the HTML report's S3 key
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=False),
    Column("calibration_seconds", Float, nullable=False, server_default=text("0")),
    CheckConstraint("status IN ('ok', 'drift', 'insufficient_data', 'failed')", name="monitoring_runs_status_valid"),
    UniqueConstraint("model", "model_version", "window_start", "window_end", name="monitoring_runs_one_per_window"),
    Index("ix_monitoring_runs_model_window_end", "model", "window_end"),
)

# Every figure of a run: drift scores with their method and threshold, operations, quality.
monitoring_metrics = Table(
    "monitoring_metrics",
    metadata,
    Column("run_id", UUID(as_uuid=True), ForeignKey("monitoring_runs.id", ondelete="CASCADE"), nullable=False),
    Column("kind", Text, nullable=False),  # "drift" | "operations" | "quality"
    Column("metric", Text, nullable=False),
    Column("key", Text, nullable=False, server_default=text("''")),  # e.g. a label, for per-label figures
    Column("value", Float),
    Column("method", Text),
    Column("threshold", Float),
    Column("calibrated_rows", Integer),  # the window size the threshold was calibrated for
    Column("drifted", Boolean),
    PrimaryKeyConstraint("run_id", "kind", "metric", "key"),
)


class LabelSource(StrEnum):
    ANNOTATION = "annotation"  # a person in Label Studio
    CLIENT = "client"  # the client that sent the request (POST /v1/inference/<id>/feedback)


class Sampling(StrEnum):
    """Why a request went to people: its model was unsure, or it fell in the unbiased random slice."""

    UNCERTAINTY = "uncertainty"
    RANDOM = "random"


# Human labels: at most one client label per request, one row per Label Studio annotation.
labels = Table(
    "labels",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("request_id", UUID(as_uuid=True), ForeignKey("inference_requests.id", ondelete="CASCADE"), nullable=False),
    Column("source", Text, nullable=False),
    Column("label", Text, nullable=False),
    Column("annotator", Text),
    Column("annotation_id", BigInteger),  # Label Studio's, for source 'annotation'
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("source IN ('annotation', 'client')", name="labels_source_valid"),
    CheckConstraint("(source = 'annotation') = (annotation_id IS NOT NULL)", name="labels_annotation_has_id"),
    Index("ux_labels_annotation_id", "annotation_id", unique=True, postgresql_where=text("annotation_id IS NOT NULL")),
    Index("ux_labels_client_request", "request_id", unique=True, postgresql_where=text("source = 'client'")),
    Index("ix_labels_request_id", "request_id"),
)

# The requests sent to Label Studio, each at most once ever. A row is written before its task is
# imported (task_id null until Label Studio confirms it): a run that dies in between leaves the row
# pending, and the next run looks the task up before it imports anything again.
annotation_tasks = Table(
    "annotation_tasks",
    metadata,
    Column("request_id", UUID(as_uuid=True), ForeignKey("inference_requests.id", ondelete="CASCADE"), primary_key=True),
    Column("model", Text, nullable=False),
    Column("project_id", BigInteger, nullable=False),
    Column("sampling", Text, nullable=False),
    Column("confidence", Float),
    Column("task_id", BigInteger),
    Column("chosen_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("sampling IN ('uncertainty', 'random')", name="annotation_tasks_sampling_valid"),
    Index("ix_annotation_tasks_pending", "project_id", postgresql_where=text("task_id IS NULL")),
)

# Per Label Studio project: annotations changed up to this time have been pulled.
annotation_projects = Table(
    "annotation_projects",
    metadata,
    Column("project_id", BigInteger, primary_key=True),
    Column("model", Text, nullable=False),
    Column("pulled_until", DateTime(timezone=True)),
)


# A finished request's callback: due at next_attempt_at (null once delivered or given up).
callback_deliveries = Table(
    "callback_deliveries",
    metadata,
    Column("request_id", UUID(as_uuid=True), ForeignKey("inference_requests.id", ondelete="CASCADE"), primary_key=True),
    Column("url", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("delivered_at", DateTime(timezone=True)),
    Column("gave_up_at", DateTime(timezone=True)),
    Index("ix_callback_deliveries_due", "next_attempt_at", postgresql_where=text("next_attempt_at IS NOT NULL")),
)

# Every attempt to deliver a callback: when, the HTTP status it got, or why it got none.
callback_attempts = Table(
    "callback_attempts",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column(
        "request_id",
        UUID(as_uuid=True),
        ForeignKey("callback_deliveries.request_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("attempted_at", DateTime(timezone=True), nullable=False),
    Column("status_code", Integer),
    Column("error", Text),
    Column("duration_ms", Float, nullable=False),
    Index("ix_callback_attempts_request_id", "request_id"),
)
