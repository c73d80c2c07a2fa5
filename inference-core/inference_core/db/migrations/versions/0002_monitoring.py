"""Monitoring runs and their metrics; an index for reading a model's requests by window.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_inference_requests_model_completed_at", "inference_requests", ["model_name", "completed_at"])
    op.create_table(
        "monitoring_runs",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("model_version", sa.Text, nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reference", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("requests", sa.Integer, nullable=False),
        sa.Column("judged_rows", sa.Integer, nullable=False),
        sa.Column("reference_rows", sa.Integer, nullable=False),
        sa.Column("sampling", sa.Text),
        sa.Column("reason", sa.Text),
        sa.Column("report_key", sa.Text),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("calibration_seconds", sa.Float, nullable=False, server_default=sa.text("0")),
        sa.CheckConstraint(
            "status IN ('ok', 'drift', 'insufficient_data', 'failed')", name="monitoring_runs_status_valid"
        ),
        sa.UniqueConstraint(
            "model", "model_version", "window_start", "window_end", name="monitoring_runs_one_per_window"
        ),
    )
    op.create_index("ix_monitoring_runs_model_window_end", "monitoring_runs", ["model", "window_end"])
    op.create_table(
        "monitoring_metrics",
        sa.Column(
            "run_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("monitoring_runs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("metric", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False, server_default=sa.text("''")),
        sa.Column("value", sa.Float),
        sa.Column("method", sa.Text),
        sa.Column("threshold", sa.Float),
        sa.Column("calibrated_rows", sa.Integer),
        sa.Column("drifted", sa.Boolean),
        sa.PrimaryKeyConstraint("run_id", "kind", "metric", "key"),
    )


def downgrade() -> None:
    op.drop_table("monitoring_metrics")
    op.drop_index("ix_monitoring_runs_model_window_end", table_name="monitoring_runs")
    op.drop_table("monitoring_runs")
    op.drop_index("ix_inference_requests_model_completed_at", table_name="inference_requests")
