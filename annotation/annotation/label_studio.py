"""Label Studio's REST API (1.2x), the calls this job makes and nothing else.

Auth is the legacy token (``Authorization: Token <key>``): a fresh 1.2x server accepts it only
when started with ``LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true``, which ``make up`` does. Every
failure to reach the server, or an answer that is not a success, raises
:class:`LabelStudioUnavailable` with a message that says which call failed and why.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

PAGE_SIZE = 500  # tasks per page of a listing; each task carries its annotations
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # the only form Label Studio's task filters accept


class LabelStudioUnavailable(RuntimeError):
    """Label Studio could not be reached or refused a call."""


class LabelStudio:
    def __init__(self, base_url: str, api_key: str, timeout_seconds: float = 30.0) -> None:
        self._base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self._base_url,
            headers={"Authorization": f"Token {api_key}"},
            timeout=timeout_seconds,
        )

    def close(self) -> None:
        self._http.close()

    def ensure_project(self, title: str, label_config: str) -> int:
        """The id of the project called `title`, created with `label_config` when there is none."""
        found = self._call("GET", "/api/projects", params={"title": title, "page_size": 100})
        for project in found.get("results", []):
            if project.get("title") == title:
                return int(project["id"])
        created = self._call("POST", "/api/projects", json={"title": title, "label_config": label_config})
        return int(created["id"])

    def set_model_version(self, project_id: int, model_version: str) -> None:
        """Uncertainty ordering in Label Studio uses only predictions of the project's model version
        (which must exist: set it after importing them)."""
        self._call("PATCH", f"/api/projects/{project_id}", json={"model_version": model_version})

    def import_tasks(self, project_id: int, tasks: Sequence[Mapping[str, Any]]) -> list[int]:
        """Create the tasks in one call; their ids, in the order given."""
        answer = self._call(
            "POST", f"/api/projects/{project_id}/import", params={"return_task_ids": "true"}, json=list(tasks)
        )
        ids = [int(task_id) for task_id in answer.get("task_ids", [])]
        if len(ids) != len(tasks):
            raise LabelStudioUnavailable(f"Label Studio imported {len(ids)} of {len(tasks)} tasks")
        return ids

    def annotators(self) -> dict[int, str]:
        """Every user's email by id: annotations name their annotator by id."""
        return {int(user["id"]): str(user.get("email") or user["id"]) for user in self._call("GET", "/api/users")}

    def tasks_after(self, project_id: int, task_id: int) -> Iterator[dict[str, Any]]:
        """The project's tasks whose id is above `task_id`, lowest id first."""
        return self._pages(project_id, "id", "Number", task_id, lambda task: task["id"])

    def tasks_changed_since(self, project_id: int, since: datetime) -> Iterator[dict[str, Any]]:
        """The project's tasks changed (annotated, edited, annotation deleted) after `since`, oldest first."""
        start = since.astimezone(UTC).strftime(_TIME_FORMAT)
        return self._pages(project_id, "updated_at", "Datetime", start, lambda task: _filter_time(task["updated_at"]))

    def _pages(
        self, project_id: int, field: str, kind: str, start: Any, key: Callable[[dict[str, Any]], Any]
    ) -> Iterator[dict[str, Any]]:
        """Keyset pagination: each page asks for what comes after the last one's final `field`, so
        tasks that change while the listing runs cannot shift a page boundary and be skipped."""
        after = start
        while True:
            item = {"filter": f"filter:tasks:{field}", "operator": "greater", "type": kind, "value": after}
            query = json.dumps({"filters": {"conjunction": "and", "items": [item]}, "ordering": [f"tasks:{field}"]})
            params = {"project": project_id, "fields": "all", "page": 1, "page_size": PAGE_SIZE, "query": query}
            tasks = self._call("GET", "/api/tasks", params=params, missing_is_empty=True).get("tasks", [])
            yield from tasks
            if len(tasks) < PAGE_SIZE:
                return
            after = key(tasks[-1])

    def _call(self, method: str, path: str, *, missing_is_empty: bool = False, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise LabelStudioUnavailable(
                f"Label Studio at {self._base_url} is unreachable ({method} {path}: {type(exc).__name__}: {exc}); "
                "is it running? (make up starts it; LABEL_STUDIO_URL says where it is)"
            ) from exc
        if response.status_code == 404 and missing_is_empty:  # it answers 404 for a page it cannot fill
            return {}
        if response.status_code in (401, 403):
            raise LabelStudioUnavailable(
                f"Label Studio refused the API key ({method} {path}: {response.status_code}); check "
                "LABEL_STUDIO_API_KEY, and that the server allows legacy tokens "
                "(LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true on its first start)"
            )
        if not response.is_success:
            raise LabelStudioUnavailable(
                f"Label Studio answered {response.status_code} to {method} {path}: {response.text[:300]}"
            )
        return response.json() if response.content else {}


def _filter_time(raw: str) -> str:
    """A task's timestamp in the one form the filters accept."""
    return datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(UTC).strftime(_TIME_FORMAT)
