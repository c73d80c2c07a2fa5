"""An HTTP client for the live gateway that checks every answer against the OpenAPI document."""

from __future__ import annotations

from typing import Any

import requests
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

from gateway.api import load_openapi


class GatewayClient:
    def __init__(self, base_url: str, api_key: str) -> None:
        self.base_url = base_url
        self.api_key = api_key
        self._session = requests.Session()
        self._session.headers["Authorization"] = f"Bearer {api_key}"
        self._openapi = OpenAPI.from_dict(load_openapi())

    def submit(self, body: Any, idempotency_key: str | None = None) -> requests.Response:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self.request("POST", "/v1/inference", json=body, headers=headers)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def request(self, method: str, path: str, documented: bool = True, **kwargs: Any) -> requests.Response:
        """Send a request; the answer must be JSON and, on documented routes, match the document."""
        kwargs.setdefault("timeout", 60)
        response = self._session.request(method, self.base_url + path, **kwargs)
        assert response.headers.get("Content-Type", "").startswith("application/json"), response.text
        if documented:
            self._openapi.validate_response(RequestsOpenAPIRequest(response.request), RequestsOpenAPIResponse(response))
        return response

    def result(self, request_id: str, wait: float = 30) -> dict[str, Any]:
        response = self.get(f"/v1/inference/{request_id}", params={"wait": wait})
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]
