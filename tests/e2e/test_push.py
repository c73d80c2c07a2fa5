"""Push instead of poll, on the whole stack: a request's status changes as server-sent events, and a
signed callback when it finishes."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid

import requests

from support.api import GatewayClient
from support.callbacks import Receiver
from support.stack import Platform
from support.tenants import admin, bearer

ORDER = ["queued", "running", "succeeded"]


def test_the_events_of_a_request_follow_it_to_its_result_through_the_gunicorn_gateway(
    gateway: GatewayClient, platform: Platform
) -> None:
    submitted = gateway.submit({"action": "sentiment", "text": "A warm, funny and moving film."})
    request_id = submitted.json()["request_id"]
    url = f"{platform.gateway_url}/v1/inference/{request_id}/events"
    with requests.get(url, headers=bearer(gateway.api_key), stream=True, timeout=60) as stream:
        assert stream.status_code == 200 and stream.headers["Content-Type"].startswith("text/event-stream")
        events = [
            json.loads(line[len("data: ") :])
            for line in stream.iter_lines(decode_unicode=True)
            if line.startswith("data: ")
        ]
    statuses = [e["status"] for e in events]
    assert statuses[-1] == "succeeded" and events[-1]["result"]["label"] in ("negative", "positive")
    assert statuses == sorted(set(statuses), key=ORDER.index), statuses  # each change once, in order
    again = requests.get(url, headers={**bearer(gateway.api_key), "Last-Event-ID": "succeeded"}, timeout=10)
    assert again.status_code == 204


def test_a_callback_is_posted_signed_when_the_request_finishes(platform: Platform, receiver: Receiver) -> None:
    name = f"hooks-{uuid.uuid4().hex[:6]}"
    assert admin(platform, "tenants", "create", name, "--no-rate-limit").returncode == 0
    client = GatewayClient(platform.gateway_url, admin(platform, "keys", "create", name).stdout.strip())
    body = {"action": "sentiment", "text": "Dull and far too long.", "callback_url": receiver.url}
    refused = client.submit(body)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "callback_url_not_allowed"
    made = admin(platform, "tenants", "callback-secret", name)
    assert made.returncode == 0 and "shown only now" in made.stderr, made.stderr
    secret = made.stdout.strip()

    deadline = time.monotonic() + 15  # gateways see the new secret within GATEWAY_KEY_CACHE_SECONDS (5)
    while (submitted := client.submit(body)).status_code == 403:
        assert time.monotonic() < deadline, submitted.text
        time.sleep(0.5)
    assert submitted.status_code == 202, submitted.text
    final = client.result(submitted.json()["request_id"])
    deadline = time.monotonic() + 30
    while not receiver.received:
        assert time.monotonic() < deadline, "no callback arrived"
        time.sleep(0.1)
    [(headers, raw)] = receiver.received
    assert json.loads(raw) == final  # the record, as GET returns it
    timestamp, _, digest = headers["Inference-Signature"].partition(",v1=")
    signed = f"{timestamp.removeprefix('t=')}.".encode() + raw
    assert hmac.compare_digest(digest, hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest())
