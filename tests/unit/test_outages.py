"""An unreachable database or AWS endpoint is a 503 a client can act on (Retry-After, what is down), not a 500."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError
from flask.testing import FlaskClient

from gateway.app import create_app
from gateway.errors import RETRY_AFTER_SECONDS
from gateway.settings import Settings

NOTHING_LISTENS = "127.0.0.1:9"


@pytest.fixture
def client() -> FlaskClient:
    settings = Settings.from_env(
        {
            "DATABASE_URL": f"postgresql+psycopg://postgres@{NOTHING_LISTENS}/gone",
            "AWS_ENDPOINT_URL": f"http://{NOTHING_LISTENS}",
        }
    )
    app = create_app(settings)

    def calls_aws() -> None:
        raise EndpointConnectionError(endpoint_url=f"http://{NOTHING_LISTENS}")

    app.add_url_rule("/calls-aws", view_func=calls_aws)
    return app.test_client()


def assert_unavailable(response: Any, dependency: str) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    error = response.get_json()["error"]
    assert error["code"] == "dependency_unavailable" and error["details"] == {"dependency": dependency}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/v1/inference", {"action": "sentiment", "text": "fine"}),
        ("get", f"/v1/inference/{uuid.uuid4()}", None),
        ("get", f"/v1/inference/{uuid.uuid4()}?wait=5", None),
        ("post", f"/v1/inference/{uuid.uuid4()}/feedback", {"label": "positive"}),
        ("get", "/v1/actions", None),
        ("get", "/v1/monitoring/runs", None),
        ("get", f"/v1/monitoring/runs/{uuid.uuid4()}", None),
        ("get", f"/v1/monitoring/runs/{uuid.uuid4()}/report", None),
    ],
)
def test_every_route_answers_a_database_outage_with_503(
    client: FlaskClient, method: str, path: str, body: dict[str, str] | None
) -> None:
    # The key cannot be checked either: a 503 too, never a 401 that would send a client to fix its key.
    response = getattr(client, method)(path, json=body, headers={"Authorization": "Bearer ik_any"})
    assert_unavailable(response, "database")


def test_an_aws_outage_is_a_503_naming_aws(client: FlaskClient) -> None:
    assert_unavailable(client.get("/calls-aws"), "aws")


def test_liveness_does_not_depend_on_what_is_down(client: FlaskClient) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503  # readiness does
