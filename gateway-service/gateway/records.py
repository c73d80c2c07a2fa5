"""A request as its client reads it: the JSON of ``GET /v1/inference/<id>``, of its events stream
and of its callback (one shape, written here once)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from gateway.unit_of_work import HumanLabel, StoredRequest


def request_record(row: StoredRequest, labels: Sequence[HumanLabel]) -> dict[str, Any]:
    return {
        "request_id": str(row.id),
        "action": row.action,
        "status": row.status,
        "result": row.result,
        "error": row.error,
        "model": {"name": row.model_name, "version": row.model_version} if row.model_name else None,
        "features_uri": row.features_uri,
        "features_row": row.features_row,
        "metadata": row.metadata,
        "deadline_seconds": row.deadline_seconds,
        "priority": row.priority or "normal",
        "callback_url": row.callback_url,
        "usage": {"input_tokens": row.input_tokens} if row.input_tokens is not None else None,
        "created_at": iso(row.created_at),
        "started_at": iso(row.started_at),
        "completed_at": iso(row.completed_at),
        "labels": [label_record(label) for label in labels],
    }


def label_record(row: HumanLabel) -> dict[str, Any]:
    return {
        "source": row.source,
        "label": row.label,
        "annotator": row.annotator,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
