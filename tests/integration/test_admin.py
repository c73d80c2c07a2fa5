"""gateway-admin's rules against real PostgreSQL: tenants, keys made and imported, revocation."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from gateway import admin, store
from gateway.admin import AdminError
from gateway.auth import hash_key
from gateway.store import SqlUnitOfWork, TokenQuota
from gateway.unit_of_work import Caller, RateLimit

pytestmark = pytest.mark.integration

KEY = "ik_" + "k" * 40


def caller_of(engine: Engine, key: str) -> Caller | None:
    with SqlUnitOfWork(engine).transaction() as tx:
        return tx.caller_for_key(hash_key(key))


def test_a_created_key_authenticates_its_tenant_until_it_is_revoked(engine: Engine) -> None:
    with engine.begin() as conn:
        admin.create_tenant(conn, "acme")
        key_id, key = admin.create_key(conn, "acme")
    assert key.startswith("ik_") and caller_of(engine, key) == Caller("acme", key_id, admin.DEFAULT_RATE_LIMIT)
    with engine.begin() as conn:
        assert "revoked key" in admin.revoke_key(conn, key_id)
        first = store.list_keys(conn, "acme")[0].revoked_at
        admin.revoke_key(conn, key_id)  # again: nothing changes
        assert store.list_keys(conn, "acme")[0].revoked_at == first
        assert store.list_tenants(conn)[0].live_keys == 0
    assert caller_of(engine, key) is None


def test_a_tenants_rate_limit_is_set_lifted_and_listed(engine: Engine) -> None:
    with engine.begin() as conn:
        admin.create_tenant(conn, "acme", RateLimit(5, 10))
        _, key = admin.create_key(conn, "acme")
        assert "tenant acme exists" in admin.create_tenant(conn, "acme", None, if_missing=True)  # left as it is
    assert caller_of(engine, key).rate_limit == RateLimit(5, 10)  # type: ignore[union-attr]
    with engine.begin() as conn:
        admin.set_rate_limit(conn, "acme", None)
        assert [(t.name, t.rate_limit, t.live_keys) for t in store.list_tenants(conn)] == [("acme", None, 1)]
    assert caller_of(engine, key).rate_limit is None  # type: ignore[union-attr]


def test_importing_a_key_is_idempotent_and_refuses_another_tenants_or_a_revoked_one(engine: Engine) -> None:
    with engine.begin() as conn:
        admin.create_tenant(conn, "dev", None)
        admin.create_tenant(conn, "other", None)
        assert admin.import_key(conn, "dev", KEY).startswith("imported key")
        assert "already in place" in admin.import_key(conn, "dev", KEY)
        with pytest.raises(AdminError, match="another tenant"):
            admin.import_key(conn, "other", KEY)
        [key] = store.list_keys(conn, "dev")
        admin.revoke_key(conn, key.id)
        with pytest.raises(AdminError, match="revoked"):
            admin.import_key(conn, "dev", KEY)
    assert caller_of(engine, KEY) is None


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda conn: admin.create_tenant(conn, "Acme Corp"), "tenant names"),
        (lambda conn: admin.create_key(conn, "nobody"), "no tenant nobody"),
        (lambda conn: admin.import_key(conn, "dev", "short"), "at least 32"),
        (lambda conn: admin.import_key(conn, "nobody", KEY), "no tenant nobody"),
        (lambda conn: admin.set_rate_limit(conn, "nobody", None), "no tenant nobody"),
        (lambda conn: admin.revoke_key(conn, 999), "no key 999"),
    ],
)
def test_what_cannot_be_done_is_refused_with_the_reason(engine: Engine, call: object, message: str) -> None:
    with engine.begin() as conn, pytest.raises(AdminError, match=message):
        call(conn)  # type: ignore[operator]


def test_a_tenants_token_quota_and_priority_are_set_and_listed(engine: Engine) -> None:
    with engine.begin() as conn:
        assert "normal priority only" in admin.create_tenant(conn, "acme", None, token_quota=TokenQuota(per_day=900))
        _, key = admin.create_key(conn, "acme")
        [listed] = store.list_tenants(conn)
        assert (listed.token_quota, listed.high_priority) == (TokenQuota(None, 900), False)
    assert caller_of(engine, key).high_priority is False  # type: ignore[union-attr]
    with engine.begin() as conn:
        assert "1000 tokens/minute" in admin.set_token_quota(conn, "acme", TokenQuota(per_minute=1000))
        assert "high and normal" in admin.set_priority(conn, "acme", "high")
        [listed] = store.list_tenants(conn)
        assert (listed.token_quota, listed.high_priority) == (TokenQuota(1000, None), True)
        with pytest.raises(AdminError, match="no tenant"):
            admin.set_priority(conn, "nobody", "high")
    assert caller_of(engine, key).high_priority is True  # type: ignore[union-attr]
