"""Rate limits: each API key has a token bucket that every gateway process shares, in Redis.

A tenant's limit (``gateway-admin tenants create|set ... --rate R --burst B``) gives each of its
keys a bucket of B requests, refilled at R per second; a request takes one token or is refused
with 429 and ``Retry-After`` (whole seconds until a token is there). Every ``/v1`` route counts,
reads included: a client polling hard is load too. A tenant without a limit is never counted.

Why Redis and not PostgreSQL: the bucket is a read-modify-write on one hot key per request; in
Redis it is one script, atomic and about a tenth of a millisecond, with the server's clock for
every process, while in PostgreSQL it would be a row lock and a WAL write per request on the
database that holds the platform's truth, serialising a key's requests on that lock. A bucket is
soft state: losing Redis loses a second of counting, nothing accepted.

Invariant: the limiter fails open. When Redis cannot be reached, requests are served uncounted
(logged at most once a minute): a limiter that is down must not turn into an outage of the platform.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Protocol

import redis

from gateway.auth import current_caller
from gateway.dependencies import deps
from gateway.errors import RateLimited
from gateway.unit_of_work import RateLimit

log = logging.getLogger(__name__)

_WARN_EVERY_SECONDS = 60.0

# KEYS[1]: the bucket; ARGV: refill per second, burst. The server's clock (TIME), so processes on
# several machines agree. Returns 0 when a token was taken, else milliseconds until there is one.
_TOKEN_BUCKET = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) * 1000 / rate) end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return wait
"""


class RateLimiter(Protocol):
    def acquire(self, bucket: str, limit: RateLimit) -> float:
        """Take a token from `bucket`: 0 when taken, else the seconds until one is there."""
        ...


class RedisRateLimiter:
    def __init__(self, client: redis.Redis, prefix: str = "") -> None:
        self._script = client.register_script(_TOKEN_BUCKET)
        self._prefix = prefix

    def acquire(self, bucket: str, limit: RateLimit) -> float:
        wait_ms = self._script(keys=[f"{self._prefix}rate-limit:{bucket}"], args=[limit.per_second, limit.burst])
        return int(wait_ms) / 1000


class _Throttled:
    """Log at most once per period."""

    def __init__(self, period: float) -> None:
        self._period = period
        self._last = -math.inf
        self._lock = threading.Lock()

    def ready(self) -> bool:
        with self._lock:
            now = time.monotonic()
            if now - self._last < self._period:
                return False
            self._last = now
            return True


_warn = _Throttled(_WARN_EVERY_SECONDS)


def enforce_rate_limit() -> None:
    """A blueprint's ``before_request``, after ``require_tenant``."""
    caller = current_caller()
    limit = caller.rate_limit
    if limit is None:
        return
    try:
        wait = deps().rate_limiter.acquire(f"key:{caller.key_id}", limit)
    except redis.RedisError as exc:
        if _warn.ready():
            log.warning("the rate limiter cannot reach Redis (%s); serving requests uncounted", exc)
        return
    if wait > 0:
        raise RateLimited(
            f"this key is limited to {limit.per_second:g} requests per second (bursts of {limit.burst}); "
            "retry after the Retry-After seconds",
            {"requests_per_second": limit.per_second, "burst": limit.burst},
            retry_after=max(1, math.ceil(wait)),
        )
