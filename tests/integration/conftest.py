from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from inference_core.db.engine import make_engine


@pytest.fixture
def engine(fresh_database: str) -> Iterator[Engine]:
    """An engine on an empty, migrated database of the test's own."""
    engine = make_engine(fresh_database)
    yield engine
    engine.dispose()
