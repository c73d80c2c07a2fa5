"""Priority lanes on the whole stack: behind a backlog of normal requests, a high-priority one is answered first."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import psutil
import requests
from sqlalchemy import func, select

from inference_core.db.schema import outbox
from support.api import GatewayClient
from support.stack import Platform
from support.tenants import bearer

TEXT = "A warm, funny and moving film about two old friends who drive across the country together."
BACKLOG = 600  # several of the worker's batches


def test_a_high_priority_request_overtakes_a_backlog_of_normal_ones(gateway: GatewayClient, platform: Platform) -> None:
    worker = psutil.Process(platform.processes["worker"].pid)
    worker.suspend()  # the backlog builds in the model's queue
    try:
        with ThreadPoolExecutor(8) as pool:
            answers = list(
                pool.map(lambda i: gateway.submit({"action": "sentiment", "text": f"{TEXT} {i}"}), range(BACKLOG))
            )
        assert {a.status_code for a in answers} == {202}
        _wait_until_published(platform)
        urgent = gateway.submit({"action": "sentiment", "text": TEXT, "priority": "high"})
        assert urgent.status_code == 202, urgent.text
        _wait_until_published(platform)
    finally:
        worker.resume()

    done = gateway.result(urgent.json()["request_id"], wait=30)
    assert done["status"] == "succeeded" and done["priority"] == "high"
    normal = [gateway.result(a.json()["request_id"], wait=30) for a in answers]
    assert {n["status"] for n in normal} == {"succeeded"} and {n["priority"] for n in normal} == {"normal"}
    urgent_at = datetime.fromisoformat(done["completed_at"])
    after = sum(datetime.fromisoformat(n["completed_at"]) > urgent_at for n in normal)
    print(f"{after} of {BACKLOG} normal requests submitted before it were answered after the high-priority one")
    assert after >= BACKLOG // 2  # first in line: without the lane it would wait behind all of them


def _submit(platform: Platform, gateway: GatewayClient, body: dict[str, str]) -> requests.Response:
    return requests.post(
        f"{platform.gateway_url}/v1/inference",
        json={"action": "sentiment", **body},
        headers=bearer(gateway.api_key),
        timeout=30,
    )


def _wait_until_published(platform: Platform) -> None:
    deadline = time.monotonic() + 60
    with platform.stack.engine.connect() as conn:
        while conn.execute(select(func.count()).where(outbox.c.published_at.is_(None))).scalar_one():
            assert time.monotonic() < deadline, "the outbox was not published"
            time.sleep(0.2)
            conn.rollback()
