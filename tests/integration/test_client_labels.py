"""Client feedback against real PostgreSQL: the upsert on the partial unique index keeps working once
psycopg prepares the statement (after five runs on a connection), when its parameters are unknown to
the planner."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select

from gateway import handlers, store
from gateway.store import SqlTransaction, SqlUnitOfWork
from gateway.unit_of_work import Caller
from gateway.validation import SubmitInference
from inference_core.db.schema import labels
from inference_core.events import InferenceCompleted, utcnow

pytestmark = pytest.mark.integration


def test_a_client_label_is_given_and_changed_many_times_on_one_connection(engine: Engine) -> None:
    with engine.begin() as conn:
        store.create_tenant(conn, "acme", None)
        store.register_action(conn, "act", "m", ("negative", "positive"))
    uow = SqlUnitOfWork(engine)
    request_id = handlers.submit(uow, Caller("acme", 1), SubmitInference("act", "t", {}, None), tokens=1).request_id
    done = InferenceCompleted(
        request_id=request_id, action="act", status="succeeded", model_name="m", result={}, completed_at=utcnow()
    )
    with uow.transaction() as tx:
        handlers.apply_events(tx, [done])
    with engine.begin() as conn:
        tx = SqlTransaction(conn)
        stored = [tx.put_client_label(request_id, ("negative", "positive")[i % 2]) for i in range(12)]
    assert [s.created for s in stored] == [True] + [False] * 11
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(labels)).scalar_one() == 1
        assert conn.execute(select(labels.c.label)).scalar_one() == "positive"
