"""Who is calling: every ``/v1`` route needs ``Authorization: Bearer <API key>`` of a tenant.

A blueprint that serves tenants registers ``require_tenant`` as its ``before_request`` (as the
Flask tutorial's ``auth.py`` loads the user); its views then read ``current_tenant()``.

Invariants: a key is never stored or logged, only its SHA-256 (keys are 256 random bits, so there
is nothing to guess and a slow password hash would buy nothing); a missing, unknown or revoked key
is a 401, the same answer for each. A process remembers a key it has found for
``GATEWAY_KEY_CACHE_SECONDS`` (5 by default, to spare the database a query per request), so a
revoked key is refused within that time.
"""

from __future__ import annotations

import hashlib
import secrets
import threading

from cachetools import TTLCache
from flask import current_app, g, request

from gateway.errors import Unauthorized
from gateway.unit_of_work import UnitOfWork

KEY_PREFIX = "ik_"  # "inference key": recognisable in a config file or a leak scanner
SHOWN_PREFIX_LENGTH = len(KEY_PREFIX) + 6  # what listings show of a key, to tell keys apart
_CACHED_KEYS = 10_000


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Authenticator:
    def __init__(self, uow: UnitOfWork, cache_seconds: float) -> None:
        self._uow = uow
        self._cache: TTLCache[str, str] | None = TTLCache(_CACHED_KEYS, cache_seconds) if cache_seconds > 0 else None
        self._lock = threading.Lock()

    def tenant_for(self, key: str) -> str | None:
        """The tenant whose live key this is; None for an unknown or revoked one (never cached)."""
        key_hash = hash_key(key)
        if self._cache is not None:
            with self._lock:
                tenant = self._cache.get(key_hash)
            if tenant is not None:
                return tenant
        with self._uow.transaction() as tx:
            tenant = tx.tenant_for_key(key_hash)
        if tenant is not None and self._cache is not None:
            with self._lock:
                self._cache[key_hash] = tenant
        return tenant


def require_tenant() -> None:
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized("send your API key as 'Authorization: Bearer <key>'")
    tenant = current_app.extensions["gateway"].authenticator.tenant_for(key.strip())
    if tenant is None:
        raise Unauthorized("the API key is unknown or revoked")
    g.tenant = tenant


def current_tenant() -> str:
    tenant: str = g.tenant
    return tenant
