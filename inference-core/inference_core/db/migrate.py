"""Apply Alembic migrations programmatically (``python -m inference_core.db.migrate``)."""

from __future__ import annotations

from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from sqlalchemy import make_url

from inference_core.db.engine import libpq_dsn
from inference_core.settings import Env, database_url

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def ensure_database(url: str) -> None:
    """Create the database named in `url` if the server does not have it yet."""
    parsed = make_url(url)
    name = parsed.database
    admin = libpq_dsn(parsed.set(database="postgres").render_as_string(hide_password=False))
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def upgrade(url: str) -> None:
    ensure_database(url)
    command.upgrade(alembic_config(url), "head")


if __name__ == "__main__":
    upgrade(database_url(Env()))
