"""Deadlines: a request may say how long it may wait in its model's queue; past it, it is `expired`.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("inference_requests", sa.Column("deadline_seconds", sa.Integer))
    op.drop_constraint("inference_requests_status_valid", "inference_requests", type_="check")
    op.create_check_constraint(
        "inference_requests_status_valid",
        "inference_requests",
        "status IN ('queued', 'running', 'succeeded', 'failed', 'expired')",
    )


def downgrade() -> None:
    op.drop_constraint("inference_requests_status_valid", "inference_requests", type_="check")
    op.create_check_constraint(
        "inference_requests_status_valid",
        "inference_requests",
        "status IN ('queued', 'running', 'succeeded', 'failed')",
    )
    op.drop_column("inference_requests", "deadline_seconds")
