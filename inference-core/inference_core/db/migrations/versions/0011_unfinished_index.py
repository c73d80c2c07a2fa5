"""Requests waiting for an answer, by action: a partial index the dispatcher's metrics read at every scrape
(how many, and the oldest one's age: an action with requests waiting and no worker is an alert).

Built CONCURRENTLY: the pre-upgrade hook runs it while the old gateways keep writing requests, which a
plain CREATE INDEX would block for the length of the table's scan.

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
    with op.get_context().autocommit_block():  # CONCURRENTLY cannot run inside a transaction
        # a build interrupted half-way leaves an invalid index of this name: built again from scratch
        op.drop_index(
            "ix_inference_requests_unfinished",
            table_name="inference_requests",
            postgresql_concurrently=True,
            if_exists=True,
        )
        op.create_index(
            "ix_inference_requests_unfinished",
            "inference_requests",
            ["action", "created_at"],
            postgresql_where=sa.text("status IN ('queued', 'running')"),
            postgresql_concurrently=True,
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index("ix_inference_requests_unfinished", table_name="inference_requests", postgresql_concurrently=True)
