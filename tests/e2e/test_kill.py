"""kill -9 (an OOM kill, a lost node) of a worker and of one of two dispatchers while they hold
messages under load: nothing accepted is lost, and each request is completed exactly once."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from inference_core.db.engine import make_engine
from inference_core.db.schema import inference_requests
from inference_core.settings import AwsSettings, Env
from support.isolated import (
    MODEL,
    Services,
    in_background,
    isolated_services,
    job_completed_per_request,
    queue_counts,
    wait_until_serving,
    where_they_are,
)
from support.stack import Stack, statuses_once_finished

pytestmark = pytest.mark.e2e

BURST_SECONDS = 6.0
VISIBILITY_SECONDS = 10  # what a killed consumer held comes back after this


@pytest.fixture
def services(stack: Stack, fresh_database: str, tmp_path: Path) -> Iterator[Services]:
    env = {"SQS_VISIBILITY_TIMEOUT_SECONDS": str(VISIBILITY_SECONDS)}
    with isolated_services(stack, fresh_database, tmp_path, dispatchers=2, env=env) as running:
        yield running


def test_kill_9_of_a_worker_and_a_dispatcher_loses_nothing_and_completes_each_request_once(
    services: Services,
) -> None:
    config = services.config
    model_queue = AwsSettings.from_env(Env(services.config.env())).names.model_queue(MODEL)
    outcome = in_background(config, BURST_SECONDS)
    time.sleep(BURST_SECONDS / 2)

    for name in ("worker", "dispatcher"):  # the whole process group, with no chance to clean up
        os.killpg(services.running[name].pid, signal.SIGKILL)
    for name in ("worker", "dispatcher"):
        services.running[name].popen.wait(10)
    _, held = queue_counts(services, model_queue)
    time.sleep(1)
    for name in ("worker", "dispatcher"):
        services.restart(name)
    wait_until_serving(config)

    accepted, wrong = outcome()
    assert wrong == []
    assert len(accepted) > 50, "the burst did not reach the gateway"
    assert held > 0, "the worker held no messages when it was killed: the test proves nothing"
    statuses = statuses_once_finished(services.config.database_url, accepted, 90 + VISIBILITY_SECONDS)
    unfinished = {i: statuses.get(i) for i in accepted if statuses.get(i) != "succeeded"}
    assert unfinished == {}, (
        f"{len(unfinished)} of {len(accepted)} accepted requests did not finish; "
        + where_they_are(services, unfinished)
    )
    engine = make_engine(services.config.database_url)
    with engine.connect() as conn:
        results = conn.execute(select(inference_requests.c.id, inference_requests.c.result)).all()
    engine.dispose()
    assert [request_id for request_id, result in results if result is None] == [], "every request has its result"
    completions = job_completed_per_request(services.config.database_url)
    assert sorted(completions) == sorted(statuses), "a job_completed for every request"
    duplicated = {request_id: n for request_id, n in completions.items() if n != 1}
    assert duplicated == {}, "one job_completed per request"
    print(f"{len(accepted)} requests accepted; the worker held {held} messages when killed")
