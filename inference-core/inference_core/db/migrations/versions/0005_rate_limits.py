"""Each tenant's rate limit: a token bucket of `burst` requests refilled at `requests_per_second`.

Null is no limit: tenants made before limits existed keep none until an operator sets one.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tenants", sa.Column("requests_per_second", sa.Float))
    op.add_column("tenants", sa.Column("burst", sa.Integer))
    op.create_check_constraint(
        "tenants_rate_limit_valid",
        "tenants",
        "(requests_per_second IS NULL AND burst IS NULL) OR (requests_per_second > 0 AND burst >= 1)",
    )


def downgrade() -> None:
    op.drop_constraint("tenants_rate_limit_valid", "tenants", type_="check")
    op.drop_column("tenants", "burst")
    op.drop_column("tenants", "requests_per_second")
