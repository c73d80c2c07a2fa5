"""Test helpers for the annotation bridge: stored requests to label, and a person in Label Studio."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine, insert

from gateway.store import register_action
from inference_core.db.schema import RequestStatus, inference_requests

LABELS = ("negative", "positive")


def store_answers(
    engine: Engine,
    confidences: Sequence[float],
    model: str = "sentiment",
    version: str = "1",
    completed_at: datetime | None = None,
) -> list[uuid.UUID]:
    """Succeeded requests of `model` with these confidences (label: positive above 0.75), registered
    with the model's label set; their ids in the same order."""
    completed = completed_at or datetime.now(UTC) - timedelta(minutes=5)
    ids = [uuid.uuid4() for _ in confidences]
    with engine.begin() as conn:
        register_action(conn, model, model, LABELS)
        conn.execute(
            insert(inference_requests),
            [
                {
                    "id": request_id,
                    "action": model,
                    "input_text": f"review {i} at {confidence:.3f}",
                    "request_fingerprint": request_id.hex,
                    "status": RequestStatus.SUCCEEDED.value,
                    "model_name": model,
                    "model_version": version,
                    "result": {"label": "positive" if confidence > 0.75 else "negative", "confidence": confidence},
                    "completed_at": completed,
                }
                for i, (request_id, confidence) in enumerate(zip(ids, confidences, strict=True))
            ],
        )
    return ids


class Annotator:
    """A person labelling in Label Studio, through its API as the web page does it."""

    def __init__(self, url: str, api_key: str) -> None:
        self.http = httpx.Client(base_url=url, headers={"Authorization": f"Token {api_key}"}, timeout=30)

    def tasks(self, project_id: int) -> list[dict[str, Any]]:
        answer = self.http.get("/api/tasks", params={"project": project_id, "fields": "all", "page_size": 10_000})
        answer.raise_for_status()
        return list(answer.json()["tasks"])

    def task_of(self, project_id: int, request_id: uuid.UUID) -> dict[str, Any]:
        return next(t for t in self.tasks(project_id) if t["data"]["request_id"] == str(request_id))

    def label(self, task_id: int, label: str) -> int:
        answer = self.http.post(f"/api/tasks/{task_id}/annotations", json={"result": [_choice(label)]})
        answer.raise_for_status()
        return int(answer.json()["id"])

    def skip(self, task_id: int) -> int:
        answer = self.http.post(f"/api/tasks/{task_id}/annotations", json={"result": [], "was_cancelled": True})
        answer.raise_for_status()
        return int(answer.json()["id"])

    def relabel(self, annotation_id: int, label: str) -> None:
        self.http.patch(f"/api/annotations/{annotation_id}", json={"result": [_choice(label)]}).raise_for_status()

    def delete(self, annotation_id: int) -> None:
        self.http.delete(f"/api/annotations/{annotation_id}").raise_for_status()

    def project(self, project_id: int) -> dict[str, Any]:
        answer = self.http.get(f"/api/projects/{project_id}")
        answer.raise_for_status()
        return dict(answer.json())


def _choice(label: str) -> dict[str, Any]:
    return {"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [label]}}
