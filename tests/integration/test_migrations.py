"""The Alembic migrations build exactly the tables that schema.py declares."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from inference_core.db.schema import metadata

pytestmark = pytest.mark.integration


def test_the_migrated_database_matches_the_declared_schema(engine: Engine) -> None:
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []
