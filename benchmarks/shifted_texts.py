"""Text that is clearly not movie reviews, for drift benchmarks and tests; offline and seeded.

Three kinds, in equal parts: technical prose (sentences of CPython's own documentation,
``pydoc_data``, shipped with every Python), product listings and log lines (from templates).
"""

from __future__ import annotations

import random
import re

PRODUCTS = ["wireless earbuds", "standing desk", "espresso machine", "hiking backpack", "USB-C hub", "air purifier"]
BRANDS = ["Acme", "Northwind", "Globex", "Initech", "Umbrella", "Stark"]
FEATURES = ["12-hour battery", "noise cancelling", "stainless steel body", "2-year warranty", "4K HDMI output"]
LEVELS = ["INFO", "WARN", "ERROR", "DEBUG"]
SERVICES = ["api-gateway", "billing", "auth", "scheduler", "ingest-7"]
EVENTS = [
    "connection reset by peer after {ms} ms (retry {n}/5)",
    "request {id} completed status={code} bytes={size}",
    "cache miss for key user:{id}:profile, fetching from db",
    "worker {n} heartbeat lag={ms}ms queue_depth={size}",
]


def technical(rng: random.Random, count: int) -> list[str]:
    from pydoc_data.topics import topics

    text = " ".join(topics.values())
    sentences = [" ".join(s.split()) for s in re.split(r"(?<=[.!?])\s+", text)]
    usable = [s for s in sentences if 5 <= len(s.split()) <= 40 and s[:1].isupper()]
    return [rng.choice(usable) for _ in range(count)]


def product(rng: random.Random, count: int) -> list[str]:
    return [
        f"{rng.choice(BRANDS)} {rng.choice(PRODUCTS)} with {rng.choice(FEATURES)} and {rng.choice(FEATURES)}. "
        f"Model {rng.randint(100, 999)}-{rng.choice('ABCX')}, ships in {rng.randint(1, 9)} days, "
        f"${rng.randint(19, 899)}.99."
        for _ in range(count)
    ]


def log_lines(rng: random.Random, count: int) -> list[str]:
    lines = []
    for _ in range(count):
        event = rng.choice(EVENTS).format(
            ms=rng.randint(1, 9000),
            n=rng.randint(1, 9),
            id=rng.randint(10_000, 99_999),
            code=rng.choice([200, 201, 404, 500, 503]),
            size=rng.randint(0, 65_536),
        )
        day, hour, minute, second = rng.randint(1, 28), rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)
        stamp = f"2026-11-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}Z"
        lines.append(f"{stamp} {rng.choice(LEVELS)} [{rng.choice(SERVICES)}] {event}")
    return lines


def shifted_texts(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    third = count // 3
    texts = technical(rng, third) + product(rng, third) + log_lines(rng, count - 2 * third)
    rng.shuffle(texts)
    return texts
