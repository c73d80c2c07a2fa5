"""SQL for monitoring: a model's traffic in a window, and the runs that judged it.

The monitoring job reads and writes through these functions, the gateway reads runs
through them: neither imports the other. Functions take a Connection; the caller owns
the transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, case, delete, func, insert, literal, select

from inference_core.db.schema import (
    LabelSource,
    RequestStatus,
    Sampling,
    annotation_tasks,
    inference_requests,
    labels,
    model_actions,
    monitoring_metrics,
    monitoring_runs,
)

_finished = inference_requests.c.status.in_([RequestStatus.SUCCEEDED.value, RequestStatus.FAILED.value])


def _in_window(model: str, start: datetime, end: datetime) -> Any:
    return and_(
        inference_requests.c.model_name == model,
        inference_requests.c.completed_at >= start,
        inference_requests.c.completed_at < end,
        _finished,
    )


def known_models(conn: Connection) -> dict[str, str]:
    """Every model the platform routes to, with its action."""
    return {
        row.model_name: row.action for row in conn.execute(select(model_actions.c.model_name, model_actions.c.action))
    }


def versions_in_window(conn: Connection, model: str, start: datetime, end: datetime) -> list[str]:
    """The versions of `model` that finished requests in [start, end)."""
    rows = conn.execute(
        select(inference_requests.c.model_version)
        .where(_in_window(model, start, end), inference_requests.c.model_version.is_not(None))
        .group_by(inference_requests.c.model_version)
        .order_by(inference_requests.c.model_version)
    )
    return [str(version) for (version,) in rows]


@dataclass(frozen=True)
class Operations:
    """Volume and latency of one version's finished requests in a window (all of them, never a sample)."""

    requests: int
    failed: int
    queue_p50_ms: float | None  # submitted -> taken by a worker (when workers announce it)
    queue_p95_ms: float | None
    model_p50_ms: float | None  # taken -> answered
    model_p95_ms: float | None
    total_p50_ms: float | None  # submitted -> answered
    total_p95_ms: float | None

    @property
    def failure_rate(self) -> float | None:
        return self.failed / self.requests if self.requests else None


def operations(conn: Connection, model: str, version: str, start: datetime, end: datetime) -> Operations:
    r = inference_requests.c

    def ms(later: Any, earlier: Any) -> Any:
        return func.extract("epoch", later - earlier) * 1000

    def pct(p: float, expression: Any) -> Any:
        return func.percentile_cont(p).within_group(expression)

    row = conn.execute(
        select(
            func.count(),
            func.count().filter(r.status == RequestStatus.FAILED.value),
            pct(0.5, ms(r.started_at, r.created_at)),
            pct(0.95, ms(r.started_at, r.created_at)),
            pct(0.5, ms(r.completed_at, r.started_at)),
            pct(0.95, ms(r.completed_at, r.started_at)),
            pct(0.5, ms(r.completed_at, r.created_at)),
            pct(0.95, ms(r.completed_at, r.created_at)),
        ).where(_in_window(model, start, end), r.model_version == version)
    ).one()
    requests, failed, *latencies = row
    return Operations(int(requests), int(failed), *(None if v is None else float(v) for v in latencies))


@dataclass(frozen=True)
class TrafficRow:
    request_id: uuid.UUID
    text: str
    result: dict[str, Any]
    features_uri: str | None
    features_row: int | None


def succeeded_rows(
    conn: Connection, model: str, version: str | None, start: datetime, end: datetime, limit: int
) -> list[TrafficRow]:
    """Up to `limit` succeeded requests of the version (of any, for None) in the window; a stable random
    sample when there are more."""
    r = inference_requests.c
    query = select(r.id, r.input_text, r.result, r.features_uri, r.features_row).where(
        _in_window(model, start, end), r.status == RequestStatus.SUCCEEDED.value
    )
    if version is not None:
        query = query.where(r.model_version == version)
    rows = conn.execute(query.order_by(func.md5(func.concat(r.id, literal("sample")))).limit(limit))
    return [TrafficRow(row.id, row.input_text, row.result or {}, row.features_uri, row.features_row) for row in rows]


@dataclass(frozen=True)
class LabelledAnswer:
    request_id: uuid.UUID
    predicted: str  # the version's answer
    human: str  # what a person said it should be
    sampling: str  # "random" | "uncertainty" (sent to Label Studio for that reason) | "client" (feedback)


def labelled_answers(
    conn: Connection, model: str, version: str, start: datetime, end: datetime
) -> list[LabelledAnswer]:
    """The version's succeeded requests in the window that people labelled: per request, the latest
    Label Studio annotation and the client's feedback (either, both or one)."""
    r, lab, t = inference_requests.c, labels.c, annotation_tasks.c
    rows = conn.execute(
        select(
            r.id,
            r.result["label"].astext.label("predicted"),
            lab.label.label("human"),
            case((lab.source == LabelSource.CLIENT.value, LabelSource.CLIENT.value), else_=t.sampling).label(
                "sampling"
            ),
        )
        .select_from(
            labels.join(inference_requests, r.id == lab.request_id).outerjoin(annotation_tasks, t.request_id == r.id)
        )
        .where(_in_window(model, start, end), r.model_version == version, r.status == RequestStatus.SUCCEEDED.value)
        .where(r.result["label"].astext.is_not(None))
        .distinct(lab.request_id, lab.source)
        .order_by(lab.request_id, lab.source, lab.updated_at.desc(), lab.id.desc())
    )
    return [
        LabelledAnswer(row.id, row.predicted, row.human, row.sampling or Sampling.UNCERTAINTY.value) for row in rows
    ]


@dataclass(frozen=True)
class RunRecord:
    model: str
    model_version: str
    window_start: datetime
    window_end: datetime
    reference: str
    status: str
    requests: int
    judged_rows: int
    reference_rows: int
    started_at: datetime
    finished_at: datetime
    sampling: str | None = None
    reason: str | None = None
    report_key: str | None = None
    calibration_seconds: float = 0.0


@dataclass(frozen=True)
class MetricRecord:
    kind: str  # "drift" | "operations" | "quality"
    metric: str
    value: float | None
    key: str = ""
    method: str | None = None
    threshold: float | None = None
    calibrated_rows: int | None = None
    drifted: bool | None = None


def replace_run(conn: Connection, run: RunRecord, metrics: Sequence[MetricRecord]) -> uuid.UUID:
    """Store a run and its metrics, replacing any earlier run of the same model version and window."""
    conn.execute(
        delete(monitoring_runs).where(
            monitoring_runs.c.model == run.model,
            monitoring_runs.c.model_version == run.model_version,
            monitoring_runs.c.window_start == run.window_start,
            monitoring_runs.c.window_end == run.window_end,
        )
    )
    run_id = uuid.uuid4()
    conn.execute(insert(monitoring_runs).values(id=run_id, **run.__dict__))
    if metrics:
        conn.execute(insert(monitoring_metrics), [{"run_id": run_id, **m.__dict__} for m in metrics])
    return run_id


def list_runs(
    conn: Connection,
    model: str | None = None,
    since: datetime | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Row[Any]]:
    """Runs, newest window first."""
    query = select(monitoring_runs)
    if model is not None:
        query = query.where(monitoring_runs.c.model == model)
    if since is not None:
        query = query.where(monitoring_runs.c.window_end > since)
    if status is not None:
        query = query.where(monitoring_runs.c.status == status)
    query = query.order_by(
        monitoring_runs.c.window_end.desc(), monitoring_runs.c.model, monitoring_runs.c.model_version
    )
    return list(conn.execute(query.limit(limit).offset(offset)))


def get_run(conn: Connection, run_id: uuid.UUID) -> Row[Any] | None:
    return conn.execute(select(monitoring_runs).where(monitoring_runs.c.id == run_id)).one_or_none()


def run_metrics(conn: Connection, run_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Row[Any]]]:
    rows = conn.execute(
        select(monitoring_metrics)
        .where(monitoring_metrics.c.run_id.in_(run_ids))
        .order_by(monitoring_metrics.c.kind, monitoring_metrics.c.metric, monitoring_metrics.c.key)
    )
    found: dict[uuid.UUID, list[Row[Any]]] = {run_id: [] for run_id in run_ids}
    for row in rows:
        found[row.run_id].append(row)
    return found
