"""Requests waiting for an answer, by action: a partial index the dispatcher's metrics read at every scrape
(how many, and the oldest one's age: an action with requests waiting and no worker is an alert).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_inference_requests_unfinished",
        "inference_requests",
        ["action", "created_at"],
        postgresql_where=sa.text("status IN ('queued', 'running')"),
    )


def downgrade() -> None:
    op.drop_index("ix_inference_requests_unfinished", table_name="inference_requests")
