"""Every /v1 route needs a live API key; a tenant reaches only its own requests and stays within its
limits (the web layer on fakes)."""

from __future__ import annotations

import dataclasses
import json
import threading
import uuid

import pytest
from flask.testing import FlaskClient

from gateway.app import create_app
from gateway.auth import Authenticator, hash_key
from gateway.handlers import apply_worker_events
from gateway.settings import Settings
from gateway.tokens import TokenEstimator
from gateway.unit_of_work import Caller, RateLimit
from inference_core.aws.sqs import ReceivedMessage
from inference_core.events import InferenceCompleted, encode, utcnow
from support.fakes import FakeFeatureSink, FakeRateLimiter, FakeUnitOfWork, raw_message

LIMIT = RateLimit(per_second=2, burst=3)
ACME_KEY, GLOBEX_KEY = "ik_acme-key-0123456789abcdefghijklmnop", "ik_globex-key-0123456789abcdefghijklmnop"


@pytest.fixture
def uow() -> FakeUnitOfWork:
    uow = FakeUnitOfWork()
    uow.add_action("sentiment", "sentiment", ("negative", "positive"))
    uow.tables.keys = {hash_key(ACME_KEY): Caller("acme", 1), hash_key(GLOBEX_KEY): Caller("globex", 2, LIMIT)}
    return uow


@pytest.fixture
def limiter() -> FakeRateLimiter:
    return FakeRateLimiter()


@pytest.fixture
def client(uow: FakeUnitOfWork, limiter: FakeRateLimiter) -> FlaskClient:
    app = create_app(Settings.from_env({"DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/unused"}))
    built = app.extensions["gateway"]
    app.extensions["gateway"] = dataclasses.replace(
        built, uow=uow, authenticator=Authenticator(uow, 0), rate_limiter=limiter, token_estimator=TokenEstimator(uow)
    )
    return app.test_client()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": ACME_KEY}, {"Authorization": "Basic YTpi"}, {"Authorization": "Bearer "}, bearer("ik_no")],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/v1/inference"),
        ("get", f"/v1/inference/{uuid.uuid4()}"),
        ("post", f"/v1/inference/{uuid.uuid4()}/feedback"),
        ("get", "/v1/actions"),
        ("get", "/v1/monitoring/runs"),
    ],
)
def test_a_v1_route_without_a_live_key_is_401(
    client: FlaskClient, uow: FakeUnitOfWork, method: str, path: str, headers: dict[str, str]
) -> None:
    response = getattr(client, method)(path, json={"action": "sentiment", "text": "fine"}, headers=headers)
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert uow.tables.requests == {}


def test_a_revoked_key_is_401(client: FlaskClient, uow: FakeUnitOfWork) -> None:
    assert client.get("/v1/actions", headers=bearer(ACME_KEY)).status_code == 200
    del uow.tables.keys[hash_key(ACME_KEY)]
    assert client.get("/v1/actions", headers=bearer(ACME_KEY)).status_code == 401


def test_a_key_over_its_rate_limit_is_429_with_retry_after_and_nothing_is_stored(
    client: FlaskClient, uow: FakeUnitOfWork, limiter: FakeRateLimiter
) -> None:
    limiter.waits = [0.0, 1.2]
    body = {"action": "sentiment", "text": "fine"}
    assert client.post("/v1/inference", json=body, headers=bearer(GLOBEX_KEY)).status_code == 202
    refused = client.post("/v1/inference", json=body, headers=bearer(GLOBEX_KEY))
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "2"
    error = refused.get_json()["error"]
    assert error["code"] == "rate_limited" and error["details"] == {"requests_per_second": 2, "burst": 3}
    assert len(uow.tables.requests) == 1
    assert limiter.calls == [("key:2", LIMIT)] * 2  # one bucket per key, every /v1 request counted


def test_a_tenant_without_a_limit_is_never_counted(client: FlaskClient, limiter: FakeRateLimiter) -> None:
    assert client.get("/v1/actions", headers=bearer(ACME_KEY)).status_code == 200
    assert limiter.calls == []


def test_when_the_limiter_is_down_requests_are_served_uncounted(client: FlaskClient, limiter: FakeRateLimiter) -> None:
    limiter.down = True
    assert client.get("/v1/actions", headers=bearer(GLOBEX_KEY)).status_code == 200


def test_probes_and_the_api_description_stay_open(client: FlaskClient) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/openapi.json").status_code == 200


def test_a_tenant_reads_its_own_request_and_another_tenants_is_404_like_an_unknown_one(client: FlaskClient) -> None:
    submitted = client.post("/v1/inference", json={"action": "sentiment", "text": "fine"}, headers=bearer(ACME_KEY))
    assert submitted.status_code == 202
    request_id = submitted.get_json()["request_id"]
    mine = client.get(f"/v1/inference/{request_id}", headers=bearer(ACME_KEY))
    assert (mine.status_code, mine.get_json()["status"]) == (200, "queued")
    theirs = client.get(f"/v1/inference/{request_id}", headers=bearer(GLOBEX_KEY))
    unknown_id = uuid.uuid4()
    unknown = client.get(f"/v1/inference/{unknown_id}", headers=bearer(GLOBEX_KEY))
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.get_json()["error"]["message"].replace(request_id, "ID") == unknown.get_json()["error"][
        "message"
    ].replace(str(unknown_id), "ID")
    feedback = client.post(
        f"/v1/inference/{request_id}/feedback", json={"label": "positive"}, headers=bearer(GLOBEX_KEY)
    )
    assert feedback.status_code == 404


def test_a_submission_over_the_token_quota_is_429_naming_the_limit_and_nothing_is_stored(
    client: FlaskClient, uow: FakeUnitOfWork
) -> None:
    uow.tables.token_limits["acme"] = 10
    six_words = {"action": "sentiment", "text": "four"}  # no tokenizer: UTF-8 bytes + 2, six tokens
    assert client.post("/v1/inference", json=six_words, headers=bearer(ACME_KEY)).status_code == 202
    refused = client.post("/v1/inference", json=six_words, headers=bearer(ACME_KEY))
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "30"
    error = refused.get_json()["error"]
    assert error["code"] == "token_quota_exceeded" and "10 tokens per minute" in error["message"]
    assert {k: error["details"][k] for k in ("window", "limit", "used", "requested")} == {
        "window": "minute",
        "limit": 10,
        "used": 6,
        "requested": 6,
    }
    assert len(uow.tables.requests) == 1 and uow.tables.tokens_used["acme"] == 6
    usage = client.get("/v1/usage", headers=bearer(ACME_KEY)).get_json()
    assert usage["windows"] == [
        {
            "window": "minute",
            "starts_at": "2026-01-01T00:00:00+00:00",
            "resets_at": "2026-01-01T00:00:30+00:00",
            "used_tokens": 6,
            "limit_tokens": 10,
            "remaining_tokens": 4,
        }
    ]


def test_a_request_larger_than_a_whole_window_is_422_without_retry_after(
    client: FlaskClient, uow: FakeUnitOfWork
) -> None:
    uow.tables.token_limits["acme"] = 3
    refused = client.post("/v1/inference", json={"action": "sentiment", "text": "a b c d"}, headers=bearer(ACME_KEY))
    assert refused.status_code == 422 and "Retry-After" not in refused.headers
    assert refused.get_json()["error"]["code"] == "exceeds_token_quota"
    assert uow.tables.requests == {} and uow.tables.tokens_used.get("acme", 0) == 0


def _events(body: str) -> list[dict[str, str]]:
    """The events of a text/event-stream body, each as its fields."""
    events = []
    for block in body.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":"))
        if "event" in fields:
            events.append(fields)
    return events


def test_a_requests_events_stream_its_status_until_it_finishes(client: FlaskClient, uow: FakeUnitOfWork) -> None:
    submitted = client.post("/v1/inference", json={"action": "sentiment", "text": "fine"}, headers=bearer(ACME_KEY))
    request_id = submitted.get_json()["request_id"]
    finisher = threading.Timer(0.3, lambda: apply_worker_events(uow, FakeFeatureSink(), [_succeeded(request_id)]))
    finisher.start()
    stream = client.get(f"/v1/inference/{request_id}/events", headers=bearer(ACME_KEY))
    finisher.join()
    assert stream.status_code == 200 and stream.mimetype == "text/event-stream"
    body = stream.get_data(as_text=True)
    assert body.startswith("retry: 1000\n\n")
    events = _events(body)
    assert [(e["event"], e["id"]) for e in events] == [("status", "queued"), ("status", "succeeded")]
    assert json.loads(events[-1]["data"])["result"] == {"label": "positive"}
    again = client.get(f"/v1/inference/{request_id}/events", headers={**bearer(ACME_KEY), "Last-Event-ID": "succeeded"})
    assert again.status_code == 204  # an EventSource that has the final status stops reconnecting
    theirs = client.get(f"/v1/inference/{request_id}/events", headers=bearer(GLOBEX_KEY))
    assert theirs.status_code == 404 and theirs.mimetype == "application/json"


def test_submit_and_wait_answers_the_finished_request_in_one_round_trip(
    client: FlaskClient, uow: FakeUnitOfWork
) -> None:
    def finish_the_first_request_stored() -> None:
        while not uow.tables.requests:
            threading.Event().wait(0.01)
        apply_worker_events(uow, FakeFeatureSink(), [_succeeded(str(next(iter(uow.tables.requests))))])

    finisher = threading.Thread(target=finish_the_first_request_stored)
    finisher.start()
    answer = client.post("/v1/inference?wait=5", json={"action": "sentiment", "text": "fine"}, headers=bearer(ACME_KEY))
    finisher.join()
    assert answer.status_code == 200, answer.get_json()
    record = answer.get_json()
    assert record["status"] == "succeeded" and record["result"] == {"label": "positive"}
    assert answer.headers["Location"] == f"/v1/inference/{record['request_id']}"


def test_submit_and_wait_past_the_wait_is_202_with_the_status(client: FlaskClient, uow: FakeUnitOfWork) -> None:
    answer = client.post(
        "/v1/inference?wait=0.2", json={"action": "sentiment", "text": "fine"}, headers=bearer(ACME_KEY)
    )
    assert answer.status_code == 202
    assert answer.get_json() == {"request_id": str(next(iter(uow.tables.requests))), "status": "queued"}


@pytest.mark.parametrize("wait", ["-1", "31", "soon", "nan"])
def test_a_wrong_wait_on_submit_is_422_and_nothing_is_stored(
    client: FlaskClient, uow: FakeUnitOfWork, wait: str
) -> None:
    body = {"action": "sentiment", "text": "x"}
    refused = client.post("/v1/inference", query_string={"wait": wait}, json=body, headers=bearer(ACME_KEY))
    assert refused.status_code == 422 and refused.get_json()["error"]["details"] == {"field": "wait"}
    assert uow.tables.requests == {}


def _succeeded(request_id: str) -> ReceivedMessage:
    outcome = InferenceCompleted(
        request_id=uuid.UUID(request_id),
        action="sentiment",
        status="succeeded",
        model_name="sentiment",
        result={"label": "positive"},
        completed_at=utcnow(),
    )
    return raw_message(encode(outcome).body)


def test_a_callback_to_a_private_address_is_refused_at_submit(client: FlaskClient, uow: FakeUnitOfWork) -> None:
    body = {"action": "sentiment", "text": "fine", "callback_url": "http://169.254.169.254/latest/meta-data"}
    refused = client.post("/v1/inference", json=body, headers=bearer(ACME_KEY))
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "callback_url_not_allowed"
    assert "not a public address" in refused.get_json()["error"]["message"] and uow.tables.requests == {}
