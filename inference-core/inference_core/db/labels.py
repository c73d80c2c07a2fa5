"""SQL for people's labels as training data. Functions take a Connection: the caller owns the transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, case, select

from inference_core.db.schema import LabelSource, RequestStatus, inference_requests, labels


@dataclass(frozen=True)
class LabelledText:
    request_id: uuid.UUID
    text: str
    label: str


def labelled_texts(conn: Connection, model: str) -> list[LabelledText]:
    """Every succeeded request of `model` that people labelled, once each, with one label: a Label Studio
    annotator's (the latest) before the client's feedback. Ordered by request id."""
    r, lab = inference_requests.c, labels.c
    annotation_first = case((lab.source == LabelSource.ANNOTATION.value, 0), else_=1)
    rows = conn.execute(
        select(r.id, r.input_text, lab.label)
        .join(inference_requests, r.id == lab.request_id)
        .where(r.model_name == model, r.status == RequestStatus.SUCCEEDED.value)
        .distinct(r.id)
        .order_by(r.id, annotation_first, lab.updated_at.desc(), lab.id.desc())
    )
    return [LabelledText(row.id, row.input_text, row.label) for row in rows]


class PostgresLabels:
    """The training job's source of people's labels."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def labelled(self, model: str) -> list[LabelledText]:
        with self._engine.connect() as conn:
            return labelled_texts(conn, model)
