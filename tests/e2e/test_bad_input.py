"""Bad input gets a clear JSON error over real HTTP, and nothing is stored or published."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from inference_core.db.schema import inference_requests, outbox
from support.api import GatewayClient
from support.stack import Platform

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def nothing_stored(platform: Platform) -> Iterator[None]:
    def counts() -> tuple[int, int]:
        with platform.stack.engine.connect() as conn:
            return (
                conn.execute(select(func.count()).select_from(inference_requests)).scalar_one(),
                conn.execute(select(func.count()).select_from(outbox)).scalar_one(),
            )

    before = counts()
    yield
    assert counts() == before, "a refused request changed the database"


def deep(levels: int) -> str:
    return '{"action": "sentiment", "text": "t", "metadata": ' + '{"k": ' * levels + "1" + "}" * levels + "}"


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b'{"action": "sentiment", "text": ', 400, "malformed_json"),
        (b"\xff\xfe\x00", 400, "malformed_json"),
        (b'{"action": "sentiment", "text": "t", "metadata": {"n": NaN}}', 400, "malformed_json"),
        (b'{"action": "sentiment", "text": "t", "metadata": {"n": ' + b"9" * 5000 + b"}}", 400, "malformed_json"),
        (b"[" * 20_000 + b"]" * 20_000, 400, "malformed_json"),  # deeper than the parser allows
        (deep(200).encode(), 422, "invalid_request"),
        (b'{"action": "sentiment", "text": "t", "metadata": {"n": 1e400}}', 422, "invalid_request"),
        (b'{"action": "sentiment"}', 422, "invalid_request"),
        (b'{"action": "sentiment", "text": ""}', 422, "invalid_request"),
        (b'{"action": "sentiment", "text": 12}', 422, "invalid_request"),
        (b'{"action": "sentiment", "text": "t", "priority": 1}', 422, "invalid_request"),
        (b'{"action": "sentiment", "text": "t", "metadata": "x"}', 422, "invalid_request"),
        (b'{"action": "sentiment", "text": "nul \\u0000 inside"}', 422, "invalid_request"),
        (b'{"action": "sentiment", "text": "\\udc00 lone surrogate"}', 422, "invalid_request"),
        (b'"just a string"', 422, "invalid_request"),
        (b"null", 422, "invalid_request"),
    ],
)
def test_bad_bodies_are_refused(
    gateway: GatewayClient, nothing_stored: None, raw: bytes, status: int, code: str
) -> None:
    response = gateway.request("POST", "/v1/inference", data=raw, headers=JSON)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"]


def test_big_integers_are_valid_json_and_kept_exactly(gateway: GatewayClient) -> None:
    raw = b'{"action": "sentiment", "text": "t", "metadata": {"n": 123456789012345678901234567890}}'
    response = gateway.request("POST", "/v1/inference", data=raw, headers=JSON)
    assert response.status_code == 202, response.text
    stored = gateway.get(f"/v1/inference/{response.json()['request_id']}").json()
    assert stored["metadata"] == {"n": 123456789012345678901234567890}


def test_unicode_and_control_characters_are_accepted_and_kept(gateway: GatewayClient) -> None:
    text = "Ünïcödé ✓ 映画 🎬 tab\there\u0007bell \u202eRTL"
    response = gateway.submit({"action": "sentiment", "text": text, "metadata": {"emoji": "🎬", "ctl": "\u0001"}})
    assert response.status_code == 202
    answer = gateway.result(response.json()["request_id"])
    assert answer["status"] == "succeeded" and answer["metadata"] == {"emoji": "🎬", "ctl": "\u0001"}


def test_unknown_action_lists_the_known_ones(gateway: GatewayClient, nothing_stored: None) -> None:
    response = gateway.submit({"action": "translate", "text": "hola"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "unknown_action" and "sentiment" in error["details"]["known_actions"]


def test_wrong_content_type_is_415(gateway: GatewayClient, nothing_stored: None) -> None:
    body = json.dumps({"action": "sentiment", "text": "t"})
    response = gateway.request("POST", "/v1/inference", data=body, headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_a_body_over_the_limit_is_413(gateway: GatewayClient, nothing_stored: None) -> None:
    body = json.dumps({"action": "sentiment", "text": "x" * 70_000})
    response = gateway.request("POST", "/v1/inference", data=body, headers=JSON)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_a_bad_idempotency_key_is_400(gateway: GatewayClient, nothing_stored: None) -> None:
    response = gateway.submit({"action": "sentiment", "text": "t"}, idempotency_key="k" * 300)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_idempotency_key"


@pytest.mark.parametrize("request_id", [str(uuid.uuid4()), "not-a-uuid", "1' OR '1'='1"])
def test_unknown_or_malformed_ids_are_404(gateway: GatewayClient, request_id: str) -> None:
    response = gateway.get(f"/v1/inference/{request_id}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("wait", ["-1", "31", "soon", "nan", "inf"])
def test_a_bad_wait_is_422(gateway: GatewayClient, wait: str) -> None:
    response = gateway.get(f"/v1/inference/{uuid.uuid4()}", params={"wait": wait})
    assert response.status_code == 422


def test_unknown_routes_and_methods_answer_json(gateway: GatewayClient) -> None:
    assert gateway.request("GET", "/v2/nothing", documented=False).status_code == 404
    refused = gateway.request("DELETE", "/v1/inference", documented=False)
    assert refused.status_code == 405 and "POST" in refused.headers["Allow"].split(", ")
