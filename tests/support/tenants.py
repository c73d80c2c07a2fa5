"""Tenants and keys made straight in a test's database (gateway-admin's own functions)."""

from __future__ import annotations

import uuid

from sqlalchemy import Engine

from gateway import admin
from gateway.unit_of_work import RateLimit


def new_tenant(engine: Engine, name: str | None = None, rate_limit: RateLimit | None = None) -> tuple[str, str]:
    """A new tenant with one key: (its name, the key). No rate limit unless one is given."""
    name = name or f"tenant-{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        admin.create_tenant(conn, name, rate_limit)
        _, key = admin.create_key(conn, name)
    return name, key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
