"""The token bucket against real Redis: a burst at once, then the refill rate, and the wait it names."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import redis

import devstack
from gateway.rate_limit import RedisRateLimiter
from gateway.unit_of_work import RateLimit

pytestmark = pytest.mark.integration

URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def limiter() -> Iterator[RedisRateLimiter]:
    devstack.ensure_redis(URL)
    client = redis.Redis.from_url(URL)
    prefix = f"test-{uuid.uuid4().hex[:8]}-"
    yield RedisRateLimiter(client, prefix)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)


def test_a_burst_is_served_at_once_then_tokens_come_at_the_rate(limiter: RedisRateLimiter) -> None:
    limit = RateLimit(per_second=10, burst=5)
    waits = [limiter.acquire("key:1", limit) for _ in range(6)]
    assert waits[:5] == [0.0] * 5
    assert 0 < waits[5] <= 0.1  # one token is a tenth of a second away
    time.sleep(0.25)  # two tokens back, about
    assert [limiter.acquire("key:1", limit) for _ in range(2)] == [0.0, 0.0]
    assert limiter.acquire("key:1", limit) > 0


def test_each_bucket_is_its_own(limiter: RedisRateLimiter) -> None:
    limit = RateLimit(per_second=1, burst=1)
    assert limiter.acquire("key:1", limit) == 0
    assert limiter.acquire("key:1", limit) > 0.5
    assert limiter.acquire("key:2", limit) == 0
