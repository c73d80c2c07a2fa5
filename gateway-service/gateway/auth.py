"""Who is calling: every ``/v1`` route needs ``Authorization: Bearer <API key>`` of a tenant.

A blueprint that serves tenants registers ``require_tenant`` as its ``before_request`` (as the
Flask tutorial's ``auth.py`` loads the user); its views then read ``current_tenant()``, and the
rate limit (``gateway.rate_limit``) reads ``current_caller()``.

Invariants: a key is never stored or logged, only its SHA-256 (keys are 256 random bits, so there
is nothing to guess and a slow password hash would buy nothing); a missing key is a 401, and an
unknown key and a revoked one get the same 401, so neither tells which. A process remembers a key it has found for
``GATEWAY_KEY_CACHE_SECONDS`` (5 by default, to spare the database a query per request), so a
revoked key is refused within that time.
"""

from __future__ import annotations

import hashlib
import secrets
import threading

from cachetools import TTLCache
from flask import g, request

from gateway.dependencies import deps
from gateway.errors import Unauthorized
from gateway.unit_of_work import Caller, UnitOfWork

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
        self._cache: TTLCache[str, Caller] | None = TTLCache(_CACHED_KEYS, cache_seconds) if cache_seconds > 0 else None
        self._lock = threading.Lock()

    def caller_for(self, key: str) -> Caller | None:
        """Who holds this live key; None for an unknown or revoked one (never cached)."""
        key_hash = hash_key(key)
        if self._cache is not None:
            with self._lock:
                caller = self._cache.get(key_hash)
            if caller is not None:
                return caller
        with self._uow.transaction() as tx:
            caller = tx.caller_for_key(key_hash)
        if caller is not None and self._cache is not None:
            with self._lock:
                self._cache[key_hash] = caller
        return caller


def require_tenant() -> None:
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized("send your API key as 'Authorization: Bearer <key>'")
    caller = deps().authenticator.caller_for(key.strip())
    if caller is None:
        raise Unauthorized("the API key is unknown or revoked")
    g.caller = caller


def current_caller() -> Caller:
    caller: Caller = g.caller
    return caller


def current_tenant() -> str:
    return current_caller().tenant
