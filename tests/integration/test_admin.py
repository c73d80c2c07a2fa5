"""gateway-admin's rules against real PostgreSQL: tenants, keys made and imported, revocation."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from gateway import admin, store
from gateway.admin import AdminError
from gateway.auth import hash_key
from gateway.store import SqlUnitOfWork

pytestmark = pytest.mark.integration

KEY = "ik_" + "k" * 40


def tenant_of(engine: Engine, key: str) -> str | None:
    with SqlUnitOfWork(engine).transaction() as tx:
        return tx.tenant_for_key(hash_key(key))


def test_a_created_key_authenticates_its_tenant_until_it_is_revoked(engine: Engine) -> None:
    with engine.begin() as conn:
        admin.create_tenant(conn, "acme")
        key_id, key = admin.create_key(conn, "acme")
    assert key.startswith("ik_") and tenant_of(engine, key) == "acme"
    with engine.begin() as conn:
        assert "revoked key" in admin.revoke_key(conn, key_id)
        first = store.list_keys(conn, "acme")[0].revoked_at
        admin.revoke_key(conn, key_id)  # again: nothing changes
        assert store.list_keys(conn, "acme")[0].revoked_at == first
        assert store.list_tenants(conn)[0][::2] == ("acme", 0)  # no live key left
    assert tenant_of(engine, key) is None


def test_importing_a_key_is_idempotent_and_refuses_another_tenants_or_a_revoked_one(engine: Engine) -> None:
    with engine.begin() as conn:
        assert admin.import_key(conn, "dev", KEY).startswith("imported key")  # creates the tenant too
        assert "already in place" in admin.import_key(conn, "dev", KEY)
        with pytest.raises(AdminError, match="another tenant"):
            admin.import_key(conn, "other", KEY)
        [key] = store.list_keys(conn, "dev")
        admin.revoke_key(conn, key.id)
        with pytest.raises(AdminError, match="revoked"):
            admin.import_key(conn, "dev", KEY)
    assert tenant_of(engine, KEY) is None


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda conn: admin.create_tenant(conn, "Acme Corp"), "tenant names"),
        (lambda conn: admin.create_key(conn, "nobody"), "no tenant nobody"),
        (lambda conn: admin.import_key(conn, "dev", "short"), "at least 32"),
        (lambda conn: admin.revoke_key(conn, 999), "no key 999"),
    ],
)
def test_what_cannot_be_done_is_refused_with_the_reason(engine: Engine, call: object, message: str) -> None:
    with engine.begin() as conn, pytest.raises(AdminError, match=message):
        call(conn)  # type: ignore[operator]
