"""Client feedback over real HTTP: stored once, shown with the request, and every bad input named."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from inference_core.db.schema import labels
from support.api import GatewayClient
from support.stack import Platform


@pytest.fixture(scope="module")
def answered(gateway: GatewayClient) -> dict[str, str]:
    """A succeeded sentiment request, and the label the model gave it."""
    request_id = gateway.submit({"action": "sentiment", "text": "A warm, funny and moving film."}).json()["request_id"]
    result = gateway.result(request_id)
    assert result["status"] == "succeeded", result
    return {"request_id": request_id, "label": result["result"]["label"]}


def feedback(gateway: GatewayClient, request_id: str, body: object) -> tuple[int, dict[str, object]]:
    response = gateway.request("POST", f"/v1/inference/{request_id}/feedback", json=body)
    return response.status_code, response.json()


def stored(platform: Platform, request_id: str) -> int:
    with platform.stack.engine.connect() as conn:
        return conn.execute(
            select(func.count()).select_from(labels).where(labels.c.request_id == uuid.UUID(request_id))
        ).scalar_one()


def test_feedback_is_stored_once_and_shown_with_the_request(
    gateway: GatewayClient, platform: Platform, answered: dict[str, str]
) -> None:
    request_id = answered["request_id"]
    other = "negative" if answered["label"] == "positive" else "positive"

    status, body = feedback(gateway, request_id, {"label": other})
    assert status == 201 and body["label"] == other and body["source"] == "client"
    again, same = feedback(gateway, request_id, {"label": other})
    assert again == 200 and same["created_at"] == body["created_at"] and same["updated_at"] == body["updated_at"]
    assert stored(platform, request_id) == 1

    shown = gateway.result(request_id)["labels"]
    assert [(label["source"], label["label"], label["annotator"]) for label in shown] == [("client", other, None)]

    changed, now = feedback(gateway, request_id, {"label": answered["label"]})  # the client changed its mind
    assert changed == 200 and now["label"] == answered["label"] and now["created_at"] == body["created_at"]
    assert stored(platform, request_id) == 1


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "invalid_request"),
        ({"label": ""}, "invalid_request"),
        ({"label": 1}, "invalid_request"),
        ({"label": "positive", "score": 1}, "invalid_request"),
        ([], "invalid_request"),
    ],
)
def test_a_bad_body_is_422(gateway: GatewayClient, answered: dict[str, str], body: object, code: str) -> None:
    status, answer = feedback(gateway, answered["request_id"], body)
    assert (status, answer["error"]["code"]) == (422, code)  # type: ignore[index]


def test_a_label_outside_the_models_set_is_409_and_lists_the_valid_ones(
    gateway: GatewayClient, platform: Platform, answered: dict[str, str]
) -> None:
    before = stored(platform, answered["request_id"])
    status, answer = feedback(gateway, answered["request_id"], {"label": "neutral"})
    assert status == 409
    assert answer["error"]["details"]["valid_labels"] == ["negative", "positive"]  # type: ignore[index]
    assert "negative, positive" in answer["error"]["message"]  # type: ignore[index]
    assert stored(platform, answered["request_id"]) == before


def test_unknown_and_malformed_ids_are_404(gateway: GatewayClient) -> None:
    for request_id in (str(uuid.uuid4()), "not-a-uuid"):
        status, answer = feedback(gateway, request_id, {"label": "positive"})
        assert (status, answer["error"]["code"]) == (404, "not_found")  # type: ignore[index]


def test_a_request_that_has_not_succeeded_is_409(gateway: GatewayClient, platform: Platform) -> None:
    # No worker serves `embed` in this platform, so the request stays queued.
    request_id = gateway.submit({"action": "embed", "text": "still waiting"}).json()["request_id"]
    status, answer = feedback(gateway, request_id, {"label": "positive"})
    assert (status, answer["error"]["code"]) == (409, "request_not_succeeded")  # type: ignore[index]
    assert answer["error"]["details"] == {"status": "queued"}  # type: ignore[index]
    assert stored(platform, request_id) == 0


def test_feedback_must_be_json(gateway: GatewayClient, answered: dict[str, str]) -> None:
    response = gateway.request(
        "POST",
        f"/v1/inference/{answered['request_id']}/feedback",
        data="positive",
        headers={"Content-Type": "text/plain"},
    )
    assert response.status_code == 415
