"""PostgreSQL side of the sync: which requests go to people, what was sent, the labels that came back.

Each method is one short transaction of its own; the sync holds a per-model advisory lock for the
whole run (``exclusive``), so two runs never send the same pending tasks twice.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from uuid import UUID

from sqlalchemy import Connection, Engine, and_, bindparam, case, delete, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert

from annotation.labelling import Candidate, LabelledTask
from annotation.sync import Split
from inference_core.db.schema import (
    LabelSource,
    RequestStatus,
    Sampling,
    annotation_projects,
    annotation_tasks,
    inference_requests,
    labels,
    model_actions,
)

_r = inference_requests.c
# A result's confidence, where its model gives a numeric one.
_confidence = case((func.jsonb_typeof(_r.result["confidence"]) == "number", _r.result["confidence"].as_float()))
_answer = _r.result["label"].astext


class PostgresAnnotations:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def label_sets(self) -> dict[str, tuple[str, ...]]:
        """Every model whose results are labels, with its label set."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(model_actions.c.model_name, model_actions.c.labels).where(model_actions.c.labels.is_not(None))
            )
            return {row.model_name: tuple(row.labels) for row in rows if row.labels}

    @contextmanager
    def exclusive(self, model: str) -> Iterator[bool]:
        """Hold the model's sync lock for the block; yields False when another run holds it."""
        key = zlib.crc32(f"annotation-sync:{model}".encode())
        with self._engine.connect() as conn:
            held = bool(conn.execute(select(func.pg_try_advisory_lock(key))).scalar())
            conn.commit()
            try:
                yield held
            finally:
                if held:
                    conn.execute(select(func.pg_advisory_unlock(key)))
                    conn.commit()

    def choose(self, model: str, project_id: int, since: datetime, split: Split) -> dict[str, int]:
        """Reserve new requests for people: `split` says how many of the candidates at random and how
        many least confident. The random ones are drawn first, uniformly from every candidate (an
        unbiased slice), then the least confident of the rest. A candidate is a succeeded request of
        `model` finished after `since` that has a label and was never sent."""
        candidates = and_(
            _r.model_name == model,
            _r.status == RequestStatus.SUCCEEDED.value,
            _r.completed_at >= since,
            _answer.is_not(None),
            ~select(annotation_tasks.c.request_id).where(annotation_tasks.c.request_id == _r.id).exists(),
        )
        chosen: dict[str, int] = {}
        with self._engine.begin() as conn:
            available = conn.execute(select(func.count()).select_from(inference_requests).where(candidates)).scalar()
            random, uncertain = split(int(available or 0))
            for sampling, limit, order in (
                (Sampling.RANDOM, random, func.random()),
                (Sampling.UNCERTAINTY, uncertain, _confidence.asc().nulls_last()),
            ):
                if limit <= 0:
                    chosen[sampling.value] = 0
                    continue
                picked = (
                    select(_r.id, literal(model), literal(project_id), literal(sampling.value), _confidence)
                    .where(candidates)
                    .order_by(order, _r.id)
                    .limit(limit)
                )
                result = conn.execute(
                    insert(annotation_tasks)
                    .from_select(["request_id", "model", "project_id", "sampling", "confidence"], picked)
                    .on_conflict_do_nothing()
                    .returning(annotation_tasks.c.request_id)
                )
                chosen[sampling.value] = len(result.all())
        return chosen

    def pending(self, project_id: int) -> list[Candidate]:
        """The project's reserved requests whose task Label Studio has not confirmed, least confident first."""
        t = annotation_tasks.c
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(_r.id, _r.input_text, _answer.label("answer"), t.confidence, _r.model_version, t.sampling)
                .join(inference_requests, _r.id == t.request_id)
                .where(t.project_id == project_id, t.task_id.is_(None))
                .order_by(t.confidence.asc().nulls_last(), t.request_id)
            )
            return [
                Candidate(row.id, row.input_text, row.answer, row.confidence, str(row.model_version), row.sampling)
                for row in rows
            ]

    def last_task_id(self, project_id: int) -> int:
        """The highest task id the project is known to hold (0 for none)."""
        with self._engine.connect() as conn:
            found = conn.execute(
                select(func.max(annotation_tasks.c.task_id)).where(annotation_tasks.c.project_id == project_id)
            ).scalar()
            return int(found or 0)

    def confirm(self, task_ids: Mapping[UUID, int]) -> None:
        if not task_ids:
            return
        with self._engine.begin() as conn:
            conn.execute(
                update(annotation_tasks)
                .where(annotation_tasks.c.request_id == bindparam("rid"))
                .values(task_id=bindparam("tid")),
                [{"rid": request_id, "tid": task_id} for request_id, task_id in task_ids.items()],
            )

    def pulled_until(self, project_id: int) -> datetime | None:
        with self._engine.connect() as conn:
            return conn.execute(
                select(annotation_projects.c.pulled_until).where(annotation_projects.c.project_id == project_id)
            ).scalar()

    def apply(self, model: str, project_id: int, tasks: Sequence[LabelledTask], settled: datetime) -> tuple[int, int]:
        """Make the labels of each task's request what Label Studio holds now, and move the watermark to
        the newest task's change, never past `settled`; with no tasks, to `settled`. Returns (labels
        stored or changed, labels removed)."""
        stored = removed = 0
        with self._engine.begin() as conn:
            known = _existing_requests(conn, [t.request_id for t in tasks if t.request_id is not None])
            for task in tasks:
                if task.request_id not in known:
                    continue  # a task this platform did not create, or its request is gone
                kept = [label.annotation_id for label in task.labels]
                removed += conn.execute(
                    delete(labels).where(
                        labels.c.request_id == task.request_id,
                        labels.c.source == LabelSource.ANNOTATION.value,
                        labels.c.annotation_id.not_in(kept),
                    )
                ).rowcount
                for label in task.labels:
                    statement = insert(labels).values(
                        request_id=task.request_id,
                        source=LabelSource.ANNOTATION.value,
                        label=label.label,
                        annotator=label.annotator,
                        annotation_id=label.annotation_id,
                        created_at=label.created_at,
                        updated_at=label.updated_at,
                    )
                    stored += len(
                        conn.execute(
                            statement.on_conflict_do_update(
                                index_elements=["annotation_id"],
                                index_where=labels.c.annotation_id.is_not(None),
                                set_={
                                    "label": statement.excluded.label,
                                    "annotator": statement.excluded.annotator,
                                    "updated_at": statement.excluded.updated_at,
                                },
                                where=labels.c.updated_at != statement.excluded.updated_at,
                            ).returning(labels.c.id)
                        ).all()
                    )
            newest = min(max(task.updated_at for task in tasks), settled) if tasks else settled
            statement = insert(annotation_projects).values(project_id=project_id, model=model, pulled_until=newest)
            conn.execute(
                statement.on_conflict_do_update(
                    index_elements=["project_id"],
                    set_={"pulled_until": func.greatest(annotation_projects.c.pulled_until, newest)},
                )
            )
        return stored, removed


def _existing_requests(conn: Connection, request_ids: Sequence[UUID]) -> set[UUID | None]:
    if not request_ids:
        return set()
    return set(conn.execute(select(_r.id).where(_r.id.in_(request_ids))).scalars())
