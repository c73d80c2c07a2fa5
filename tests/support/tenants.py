"""Tenants and keys made straight in a test's database (gateway-admin's own functions)."""

from __future__ import annotations

import subprocess
import uuid
from typing import TYPE_CHECKING

from sqlalchemy import Engine

import devstack
from gateway import admin as admin_functions
from gateway.unit_of_work import RateLimit

if TYPE_CHECKING:
    from support.stack import Platform


def new_tenant(engine: Engine, name: str | None = None, rate_limit: RateLimit | None = None) -> tuple[str, str]:
    """A new tenant with one key: (its name, the key). No rate limit unless one is given."""
    name = name or f"tenant-{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        admin_functions.create_tenant(conn, name, rate_limit)
        _, key = admin_functions.create_key(conn, name)
    return name, key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def admin(platform: Platform, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run gateway-admin beside the test platform, as an operator would."""
    return subprocess.run(
        [str(devstack.VENV_BIN / "gateway-admin"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=platform.stack.config.env(),
        timeout=60,
    )
