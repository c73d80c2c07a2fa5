"""Deadlines on the whole stack: a request still queued past its deadline ends expired, not computed."""

from __future__ import annotations

import time

import psutil

from e2e.conftest import Observer
from support.api import GatewayClient
from support.stack import Platform

TEXT = "A warm, funny and moving film."


def test_a_request_queued_past_its_deadline_expires_and_one_without_a_deadline_is_answered(
    gateway: GatewayClient, platform: Platform, job_completed: Observer
) -> None:
    worker = psutil.Process(platform.processes["worker"].pid)
    worker.suspend()  # a busy worker: the requests wait in the queue
    try:
        late = gateway.submit({"action": "sentiment", "text": TEXT, "deadline_seconds": 1})
        patient = gateway.submit({"action": "sentiment", "text": TEXT})
        assert late.status_code == patient.status_code == 202
        time.sleep(3)
    finally:
        worker.resume()

    expired = gateway.result(late.json()["request_id"])
    assert expired["status"] == "expired", expired
    assert expired["deadline_seconds"] == 1 and expired["result"] is None
    assert expired["error"]["code"] == "deadline_exceeded" and "past its deadline of 1 s" in expired["error"]["message"]
    assert gateway.result(patient.json()["request_id"])["status"] == "succeeded"
    [completed] = job_completed.wait_for(expired["request_id"])
    assert completed.status == "expired"
