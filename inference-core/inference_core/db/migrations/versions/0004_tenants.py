"""Tenants and their API keys; every request belongs to one, and idempotency keys are per tenant.

Requests stored before tenants existed keep a null tenant: no key can read them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.Text, sa.ForeignKey("tenants.name"), nullable=False),
        sa.Column("key_hash", sa.Text, nullable=False, unique=True),
        sa.Column("prefix", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_api_keys_tenant", "api_keys", ["tenant"])
    op.add_column("inference_requests", sa.Column("tenant", sa.Text, sa.ForeignKey("tenants.name")))
    op.drop_constraint("inference_requests_idempotency_key_key", "inference_requests", type_="unique")
    op.create_unique_constraint(
        "inference_requests_tenant_idempotency_key", "inference_requests", ["tenant", "idempotency_key"]
    )


def downgrade() -> None:
    op.drop_constraint("inference_requests_tenant_idempotency_key", "inference_requests", type_="unique")
    op.create_unique_constraint("inference_requests_idempotency_key_key", "inference_requests", ["idempotency_key"])
    op.drop_column("inference_requests", "tenant")
    op.drop_table("api_keys")
    op.drop_table("tenants")
