"""What a Label Studio project of a model looks like: its labelling config, its tasks, its answers.

A model whose results are labels (``labels`` in its ``model.toml``) gets one project whose config
offers exactly those labels as single choices. A task carries the request id, the text and the
sampling that chose it; its pre-annotation is the model's answer, with ``model_version`` and
``score`` (the model's confidence) so Label Studio can order tasks by uncertainty.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID
from xml.sax.saxutils import quoteattr

FROM_NAME = "label"  # the Choices control
TO_NAME = "text"  # the Text object, fed by the task's data["text"]


def label_config(labels: Sequence[str]) -> str:
    choices = "".join(f"<Choice value={quoteattr(label)}/>" for label in labels)
    return (
        f'<View><Text name="{TO_NAME}" value="$text"/>'
        f'<Choices name="{FROM_NAME}" toName="{TO_NAME}" choice="single" showInline="true">{choices}</Choices></View>'
    )


@dataclass(frozen=True)
class Candidate:
    """A succeeded request chosen for people to label."""

    request_id: UUID
    text: str
    label: str  # the model's answer
    confidence: float | None
    model_version: str
    sampling: str  # Sampling: "uncertainty" | "random"


def task(candidate: Candidate) -> dict[str, Any]:
    prediction: dict[str, Any] = {
        "model_version": candidate.model_version,
        "result": [_choice(candidate.label)],
    }
    if candidate.confidence is not None:
        prediction["score"] = candidate.confidence
    return {
        "data": {"text": candidate.text, "request_id": str(candidate.request_id), "sampling": candidate.sampling},
        "predictions": [prediction],
    }


def _choice(label: str) -> dict[str, Any]:
    return {"from_name": FROM_NAME, "to_name": TO_NAME, "type": "choices", "value": {"choices": [label]}}


@dataclass(frozen=True)
class HumanLabel:
    annotation_id: int
    label: str
    annotator: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class LabelledTask:
    """A task as Label Studio holds it now: its request and every annotation it still has."""

    task_id: int
    request_id: UUID | None  # None for a task this job did not create
    updated_at: datetime
    labels: list[HumanLabel]


def read_task(
    raw: Mapping[str, Any], label_set: Sequence[str], annotators: Mapping[int, str] | None = None
) -> LabelledTask:
    """The labels of a task's submitted annotations; skipped ones and choices outside the label set are
    not labels. `annotators` names users by id (annotations in task listings carry only the id)."""
    found = []
    for annotation in raw.get("annotations") or []:
        label = _chosen(annotation.get("result") or [])
        if annotation.get("was_cancelled") or label is None or label not in label_set:
            continue
        found.append(
            HumanLabel(
                annotation_id=int(annotation["id"]),
                label=label,
                annotator=_annotator(annotation.get("completed_by"), annotators or {}),
                created_at=parse_time(annotation["created_at"]),
                updated_at=parse_time(annotation["updated_at"]),
            )
        )
    return LabelledTask(int(raw["id"]), _request_id(raw.get("data") or {}), parse_time(raw["updated_at"]), found)


def _chosen(result: Sequence[Mapping[str, Any]]) -> str | None:
    for region in result:
        if region.get("from_name") == FROM_NAME:
            choices = (region.get("value") or {}).get("choices") or []
            if len(choices) == 1:
                return str(choices[0])
    return None


def _annotator(completed_by: Any, annotators: Mapping[int, str]) -> str | None:
    if isinstance(completed_by, Mapping):
        return str(completed_by.get("email") or completed_by.get("id"))
    if isinstance(completed_by, int):
        return annotators.get(completed_by, str(completed_by))
    return None if completed_by is None else str(completed_by)


def _request_id(data: Mapping[str, Any]) -> UUID | None:
    try:
        return UUID(str(data.get("request_id")))
    except ValueError:
        return None


def parse_time(raw: str) -> datetime:
    return datetime.fromisoformat(raw.replace("Z", "+00:00"))
