"""A request's trace: the W3C traceparent of its submission, so the dispatcher's apply joins its trace.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("inference_requests", sa.Column("traceparent", sa.Text))


def downgrade() -> None:
    op.drop_column("inference_requests", "traceparent")
