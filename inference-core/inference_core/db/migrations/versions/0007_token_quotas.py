"""Token quotas: each tenant's budget per minute and per day, its use in the current windows, and
each request's tokens (reserved at submit, then what its model actually read, for billing).

Null budgets are no limit: tenants made before quotas keep none until an operator sets one. An
action's tokenizer (its model's ``tokenizer.json``) is what the gateway estimates a request with.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tenants", sa.Column("tokens_per_minute", sa.BigInteger))
    op.add_column("tenants", sa.Column("tokens_per_day", sa.BigInteger))
    op.create_check_constraint(
        "tenants_token_quota_valid",
        "tenants",
        "coalesce(tokens_per_minute, 1) >= 1 AND coalesce(tokens_per_day, 1) >= 1",
    )
    op.create_table(
        "token_usage",
        sa.Column("tenant", sa.Text, sa.ForeignKey("tenants.name"), primary_key=True),
        sa.Column("minute_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("minute_tokens", sa.BigInteger, nullable=False),
        sa.Column("day_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("day_tokens", sa.BigInteger, nullable=False),
    )
    op.add_column("inference_requests", sa.Column("reserved_tokens", sa.Integer))
    op.add_column("inference_requests", sa.Column("input_tokens", sa.Integer))
    op.create_index("ix_inference_requests_tenant_created_at", "inference_requests", ["tenant", "created_at"])
    op.add_column("model_actions", sa.Column("tokenizer", sa.Text))


def downgrade() -> None:
    op.drop_column("model_actions", "tokenizer")
    op.drop_index("ix_inference_requests_tenant_created_at", "inference_requests")
    op.drop_column("inference_requests", "input_tokens")
    op.drop_column("inference_requests", "reserved_tokens")
    op.drop_table("token_usage")
    op.drop_constraint("tenants_token_quota_valid", "tenants", type_="check")
    op.drop_column("tenants", "tokens_per_day")
    op.drop_column("tenants", "tokens_per_minute")
