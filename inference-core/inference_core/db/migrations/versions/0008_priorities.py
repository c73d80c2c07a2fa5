"""Priority lanes: a request's priority as sent, and which tenants may send high-priority requests.

Tenants made before lanes keep what they could do (any request; now: high allowed); a tenant made
from here on is normal-only until an operator allows it (``gateway-admin tenants priority``).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tenants", sa.Column("high_priority", sa.Boolean, nullable=False, server_default=sa.text("true")))
    op.alter_column("tenants", "high_priority", server_default=sa.text("false"))
    op.add_column("inference_requests", sa.Column("priority", sa.Text))
    op.create_check_constraint(
        "inference_requests_priority_valid", "inference_requests", "priority IN ('high', 'normal')"
    )


def downgrade() -> None:
    op.drop_constraint("inference_requests_priority_valid", "inference_requests", type_="check")
    op.drop_column("inference_requests", "priority")
    op.drop_column("tenants", "high_priority")
