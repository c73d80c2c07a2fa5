"""Engine construction and the LISTEN connection for notifications."""

from __future__ import annotations

import psycopg
from sqlalchemy import Engine, create_engine, make_url

# A database that does not answer a connect in this time is down (a request gets its 503), rather
# than holding a thread for the operating system's TCP timeout (minutes, where packets are dropped).
CONNECT_TIMEOUT_SECONDS = 5


def make_engine(url: str, pool_size: int = 5) -> Engine:
    """A pooled engine; connects lazily, on first use."""
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
    )


def libpq_dsn(url: str) -> str:
    """The psycopg connection string for a SQLAlchemy URL (for LISTEN, outside the pool)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def listen_connection(url: str, *channels: str) -> psycopg.Connection[tuple[object, ...]]:
    conn = psycopg.connect(libpq_dsn(url), autocommit=True)
    for channel in channels:
        conn.execute(f"LISTEN {channel}")
    return conn
