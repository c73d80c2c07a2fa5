"""Metrics after real traffic: the gateway's /metrics adds up both gunicorn processes, the dispatcher and
each worker serve theirs on their own ports, and every figure is what the traffic should have made it."""

from __future__ import annotations

import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from support.api import GatewayClient
from support.stack import Platform
from support.tenants import bearer

pytestmark = pytest.mark.e2e

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
REQUESTS = 24


def scrape(url: str) -> Samples:
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def settled(url: str, seconds: float = 60) -> Samples:
    """The figures once two scrapes a second apart agree: what earlier tests left in flight is done."""
    deadline, last = time.monotonic() + seconds, scrape(url)
    while time.monotonic() < deadline:
        time.sleep(1)
        now = scrape(url)
        if {k: v for k, v in now.items() if k[0].endswith("_total")} == {
            k: v for k, v in last.items() if k[0].endswith("_total")
        }:
            return now
        last = now
    return last


def test_the_request_path_is_counted_once_at_each_step(gateway: GatewayClient, platform: Platform) -> None:
    dispatcher_url, worker_url = platform.processes["dispatcher"].metrics_url, platform.processes["worker"].metrics_url
    assert dispatcher_url is not None and worker_url is not None
    urls = {"gateway": f"{platform.gateway_url}/metrics", "dispatcher": dispatcher_url, "worker": worker_url}
    before = {name: scrape(url) if name == "gateway" else settled(url) for name, url in urls.items()}

    def added(source: str, name: str, **labels: str) -> float:
        return value(scrape(urls[source]), name, **labels) - value(before[source], name, **labels)

    # A connection each, so that both gunicorn processes take some; a scrape, whichever process answers
    # it, has them all.
    headers = {**bearer(gateway.api_key), "Connection": "close"}
    submitted = [
        requests.post(
            f"{platform.gateway_url}/v1/inference",
            json={"action": "sentiment", "text": f"Fine, {i}."},
            headers=headers,
            timeout=30,
        )
        for i in range(REQUESTS)
    ]
    ids = [response.json()["request_id"] for response in submitted]
    assert {gateway.result(request_id)["status"] for request_id in ids} == {"succeeded"}
    files = platform.stack.config.gateway_metrics_dir.glob("*.db")
    assert len({file.stem.rsplit("_", 1)[-1] for file in files}) >= 2, "both processes counted requests"

    submits = {"route": "/v1/inference", "method": "POST"}
    assert added("gateway", "gateway_http_requests_total", **submits, status="202") == REQUESTS
    assert added("gateway", "gateway_http_request_seconds_count", **submits) == REQUESTS

    stored = {"action": "sentiment", "status": "succeeded"}
    deadline = time.monotonic() + 30  # the result is read before the dispatcher's counter moves on
    while added("dispatcher", "gateway_outcomes_stored_total", **stored) < REQUESTS and time.monotonic() < deadline:
        time.sleep(0.2)
    assert added("dispatcher", "gateway_outcomes_stored_total", **stored) == REQUESTS
    version = gateway.result(ids[0])["model"]["version"]
    assert added("dispatcher", "gateway_request_seconds_count", action="sentiment", model_version=version) == REQUESTS
    assert ("gateway_outbox_pending_events", frozenset()) in scrape(dispatcher_url)

    assert added("worker", "inference_worker_requests_total", model="sentiment", outcome="succeeded") == REQUESTS
    assert added("worker", "inference_worker_messages_received_total", model="sentiment") == REQUESTS
    assert added("worker", "inference_worker_batch_size_sum", model="sentiment") == REQUESTS
    worker_now = scrape(worker_url)
    assert value(worker_now, "inference_worker_model_info", model="sentiment", version=version, action="sentiment") == 1
    names = platform.stack.aws.names
    dispatcher_now = scrape(dispatcher_url)  # every queue's depth, a model's too (its workers may be at zero)
    for queue in (names.priority_queue("sentiment"), f"{names.model_queue('embedding')}-dlq", names.gateway_queue):
        assert ("inference_queue_messages", frozenset({("queue", queue)})) in dispatcher_now
    assert not any(name == "inference_queue_messages" for name, _ in worker_now)
