"""Tenants on the whole stack: keys made with gateway-admin, each tenant alone with its requests,
revocation, and the tenant carried in the events."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime

import pytest
import requests
from sqlalchemy import func, select

from e2e.conftest import Observer
from inference_core.db.schema import api_keys, inference_requests
from support.api import GatewayClient
from support.stack import Platform
from support.tenants import admin, bearer


@pytest.fixture(scope="module")
def acme(platform: Platform) -> tuple[str, GatewayClient]:
    """A second tenant beside the stack's dev tenant, made as an operator would: (its name, its client)."""
    name = f"acme-{uuid.uuid4().hex[:6]}"
    created = admin(platform, "tenants", "create", name)
    assert created.returncode == 0, created.stderr
    key = admin(platform, "keys", "create", name)
    assert key.returncode == 0 and "shown only now" in key.stderr, key.stderr
    return name, GatewayClient(platform.gateway_url, key.stdout.strip())


def test_a_key_is_printed_once_and_only_its_hash_is_stored(platform: Platform, acme: tuple[str, GatewayClient]) -> None:
    name, client = acme
    with platform.stack.engine.connect() as conn:
        stored = conn.execute(select(api_keys).where(api_keys.c.tenant == name)).one()
    assert client.api_key not in {str(value) for value in stored}
    assert stored.prefix == client.api_key[: len(stored.prefix)] and len(stored.prefix) < 12
    listed = admin(platform, "keys", "list", "--tenant", name).stdout
    assert f"{stored.prefix}..." in listed and client.api_key not in listed
    assert name in admin(platform, "tenants", "list").stdout
    again = admin(platform, "tenants", "create", name)
    assert again.returncode == 1 and "already exists" in again.stderr


def test_each_tenant_sees_only_its_own_requests(
    gateway: GatewayClient, platform: Platform, acme: tuple[str, GatewayClient], job_completed: Observer
) -> None:
    name, client = acme
    body = {"action": "sentiment", "text": "A warm, funny and moving film."}
    submitted = client.submit(body, idempotency_key="shared-key")
    assert submitted.status_code == 202, submitted.text
    request_id = submitted.json()["request_id"]
    assert client.result(request_id)["status"] == "succeeded"

    theirs = gateway.get(f"/v1/inference/{request_id}")  # the dev tenant
    unknown = gateway.get(f"/v1/inference/{uuid.uuid4()}")
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json()["error"]["code"] == unknown.json()["error"]["code"] == "not_found"
    feedback = gateway.request("POST", f"/v1/inference/{request_id}/feedback", json={"label": "positive"})
    assert feedback.status_code == 404

    # The same Idempotency-Key from another tenant is another request, not a replay of this one.
    other = gateway.submit({**body, "text": "Dull."}, idempotency_key="shared-key")
    assert other.status_code == 202 and other.json()["request_id"] != request_id
    assert "Idempotent-Replayed" not in other.headers

    with platform.stack.engine.connect() as conn:
        tenant = conn.execute(
            select(inference_requests.c.tenant).where(inference_requests.c.id == uuid.UUID(request_id))
        ).scalar_one()
    assert tenant == name
    [completed] = job_completed.wait_for(request_id)
    assert completed.tenant == name


def test_a_revoked_key_is_refused_within_the_cache_time(platform: Platform) -> None:
    name = f"revoked-{uuid.uuid4().hex[:6]}"
    assert admin(platform, "tenants", "create", name).returncode == 0
    key = admin(platform, "keys", "create", name).stdout.strip()
    url = f"{platform.gateway_url}/v1/actions"
    assert requests.get(url, headers=bearer(key), timeout=10).status_code == 200
    with platform.stack.engine.connect() as conn:
        key_id = conn.execute(select(api_keys.c.id).where(api_keys.c.tenant == name)).scalar_one()
    revoked = admin(platform, "keys", "revoke", str(key_id))
    assert revoked.returncode == 0 and f"revoked key {key_id}" in revoked.stdout, revoked.stderr
    deadline = time.monotonic() + 15  # GATEWAY_KEY_CACHE_SECONDS is 5 by default
    while (answer := requests.get(url, headers=bearer(key), timeout=10)).status_code == 200:
        assert time.monotonic() < deadline, "a revoked key was still accepted"
        time.sleep(0.5)
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "unauthorized"


def test_without_a_key_every_v1_route_is_401_and_the_probes_answer(platform: Platform) -> None:
    for path in ("/v1/actions", f"/v1/inference/{uuid.uuid4()}", "/v1/monitoring/runs"):
        answer = requests.get(platform.gateway_url + path, timeout=10)
        assert answer.status_code == 401 and answer.headers["WWW-Authenticate"].startswith("Bearer"), path
    refused = requests.post(
        f"{platform.gateway_url}/v1/inference", json={"action": "sentiment", "text": "x"}, timeout=10
    )
    assert refused.status_code == 401
    assert requests.get(f"{platform.gateway_url}/healthz", timeout=10).status_code == 200
    assert requests.get(f"{platform.gateway_url}/openapi.json", timeout=10).status_code == 200


def test_a_rate_limit_holds_across_the_gateways_processes(platform: Platform) -> None:
    """The platform's gateway runs two gunicorn processes; the key's bucket is one for both."""
    name = f"limited-{uuid.uuid4().hex[:6]}"
    assert admin(platform, "tenants", "create", name, "--rate", "5", "--burst", "5").returncode == 0
    key = admin(platform, "keys", "create", name).stdout.strip()
    answers: list[requests.Response] = []

    def hammer() -> None:
        session = requests.Session()
        session.headers.update(bearer(key))
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            answers.append(session.get(f"{platform.gateway_url}/v1/actions", timeout=10))

    started = time.monotonic()
    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    served = sum(a.status_code == 200 for a in answers)
    refused = [a for a in answers if a.status_code == 429]
    assert served + len(refused) == len(answers), {a.status_code for a in answers}
    assert 5 <= served <= 5 + 5 * elapsed + 1, (served, elapsed)  # per-process buckets would serve twice that
    assert refused and all(int(a.headers["Retry-After"]) >= 1 for a in refused)
    assert refused[0].json()["error"]["code"] == "rate_limited"
    print(f"{len(answers)} requests in {elapsed:.1f}s: {served} served, {len(refused)} refused")


def test_a_token_quota_holds_across_the_gateways_processes_and_usage_is_what_the_model_read(
    platform: Platform,
) -> None:
    name = f"quota-{uuid.uuid4().hex[:6]}"
    limit = 300
    created = admin(platform, "tenants", "create", name, "--no-rate-limit", "--tokens-per-minute", str(limit))
    assert created.returncode == 0 and f"{limit} tokens/minute" in created.stdout, created.stderr
    assert f"{limit} tokens/minute" in admin(platform, "tenants", "list").stdout
    client = GatewayClient(platform.gateway_url, admin(platform, "keys", "create", name).stdout.strip())
    body = {"action": "sentiment", "text": "A warm, funny and moving film about two old friends."}

    first = client.submit(body)
    assert first.status_code == 202, first.text
    done = client.result(first.json()["request_id"])
    assert done["status"] == "succeeded" and done["usage"]["input_tokens"] > 2  # [CLS] ... [SEP]
    tokens = done["usage"]["input_tokens"]
    minute = client.get("/v1/usage").json()["windows"][0]
    assert minute["window"] == "minute" and minute["limit_tokens"] == limit
    assert minute["used_tokens"] in (tokens, 0)  # 0 if a new minute began since

    answers: list[requests.Response] = []
    while datetime.now(UTC).second > 50:  # hammer inside one minute: a request's minute is then its window
        time.sleep(0.2)

    def hammer() -> None:
        session = requests.Session()
        session.headers.update(bearer(client.api_key))
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            answers.append(session.post(f"{platform.gateway_url}/v1/inference", json=body, timeout=10))

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    refused = [a for a in answers if a.status_code == 429]
    assert {a.status_code for a in answers} == {202, 429}, {a.status_code for a in answers}
    assert refused[0].json()["error"]["code"] == "token_quota_exceeded" and int(refused[0].headers["Retry-After"]) >= 1
    r = inference_requests.c
    minute_of = func.date_trunc("minute", r.created_at)
    with platform.stack.engine.connect() as conn:
        charges = select(minute_of, func.sum(r.reserved_tokens)).where(r.tenant == name).group_by(minute_of)
        per_minute = conn.execute(charges).all()
    for window, charged in per_minute:  # what each request holds: its estimate, then what its model read
        assert charged <= limit, f"{charged} tokens admitted in the minute of {window}, over {limit}"
    print(f"{len(answers)} submissions: {len(answers) - len(refused)} admitted, {len(refused)} refused")
