"""Human labels (Label Studio annotations and client feedback), the requests sent to people,
the pull watermark per Label Studio project, and each action's label set.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("model_actions", sa.Column("labels", postgresql.JSONB))
    op.create_table(
        "labels",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column(
            "request_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("inference_requests.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("annotator", sa.Text),
        sa.Column("annotation_id", sa.BigInteger),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("source IN ('annotation', 'client')", name="labels_source_valid"),
        sa.CheckConstraint("(source = 'annotation') = (annotation_id IS NOT NULL)", name="labels_annotation_has_id"),
    )
    op.create_index(
        "ux_labels_annotation_id",
        "labels",
        ["annotation_id"],
        unique=True,
        postgresql_where=sa.text("annotation_id IS NOT NULL"),
    )
    op.create_index(
        "ux_labels_client_request", "labels", ["request_id"], unique=True, postgresql_where=sa.text("source = 'client'")
    )
    op.create_index("ix_labels_request_id", "labels", ["request_id"])
    op.create_table(
        "annotation_tasks",
        sa.Column(
            "request_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("inference_requests.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("project_id", sa.BigInteger, nullable=False),
        sa.Column("sampling", sa.Text, nullable=False),
        sa.Column("confidence", sa.Float),
        sa.Column("task_id", sa.BigInteger),
        sa.Column("chosen_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("sampling IN ('uncertainty', 'random')", name="annotation_tasks_sampling_valid"),
    )
    op.create_index(
        "ix_annotation_tasks_pending", "annotation_tasks", ["project_id"], postgresql_where=sa.text("task_id IS NULL")
    )
    op.create_table(
        "annotation_projects",
        sa.Column("project_id", sa.BigInteger, primary_key=True),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("pulled_until", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    op.drop_table("annotation_projects")
    op.drop_table("annotation_tasks")
    op.drop_table("labels")
    op.drop_column("model_actions", "labels")
