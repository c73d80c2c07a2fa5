"""HTTP routes for the monitoring job's runs: their figures and verdicts, and their reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from flask import Blueprint, Response, jsonify, request, url_for
from sqlalchemy import Row

from gateway.api import parse_id
from gateway.auth import require_tenant
from gateway.dependencies import deps
from gateway.errors import DependencyUnavailable, InvalidRequest, NotFound
from gateway.rate_limit import enforce_rate_limit
from inference_core.aws.s3 import ObjectMissing
from inference_core.db import monitoring
from inference_core.db.schema import RunStatus

bp = Blueprint("monitoring", __name__)  # any tenant's key reads them: they are the models' figures
bp.before_request(require_tenant)
bp.before_request(enforce_rate_limit)

MAX_PAGE = 200
MAX_OFFSET = 1_000_000_000  # a page's offset (the document states the same bound)


@bp.get("/v1/monitoring/runs")
def list_runs() -> Response:
    model = request.args.get("model") or None
    since = _parse_since(request.args.get("since"))
    status = request.args.get("status")
    if status is not None and status not in {s.value for s in RunStatus}:
        known = ", ".join(s.value for s in RunStatus)
        raise InvalidRequest(f"status must be one of {known}", {"field": "status"})
    limit = _parse_int("limit", request.args.get("limit"), 50, 1, MAX_PAGE)
    offset = _parse_int("offset", request.args.get("offset"), 0, 0, MAX_OFFSET)
    if model is not None and "\x00" in model:  # no model is named so (and PostgreSQL text cannot hold it)
        return jsonify(runs=[], next_offset=None)
    with deps().engine.connect() as conn:
        runs = monitoring.list_runs(conn, model, since, status, limit + 1, offset)
        page = runs[:limit]
        metrics = monitoring.run_metrics(conn, [run.id for run in page])
    return jsonify(
        runs=[_run_json(run, metrics[run.id]) for run in page],
        next_offset=offset + limit if len(runs) > limit else None,
    )


@bp.get("/v1/monitoring/runs/<run_id>")
def get_run(run_id: str) -> Response:
    run, metrics = _find(run_id)
    return jsonify(_run_json(run, metrics))


@bp.get("/v1/monitoring/runs/<run_id>/report")
def get_report(run_id: str) -> Response:
    run, _ = _find(run_id)
    if run.report_key is None:
        raise NotFound(f"monitoring run {run_id} has no report (status {run.status})")
    try:
        page = deps().reports.get(f"s3://{deps().reports.bucket}/{run.report_key}")
    except ObjectMissing:
        raise NotFound(f"the report of monitoring run {run_id} is no longer stored; re-run its window") from None
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        raise DependencyUnavailable("s3", f"the report store answered {code}; retry shortly") from None
    except (BotoCoreError, OSError) as exc:
        raise DependencyUnavailable("s3", f"the report store cannot be reached ({type(exc).__name__})") from None
    return Response(page, mimetype="text/html")


def _find(raw: str) -> tuple[Row[Any], list[Row[Any]]]:
    run_id = parse_id(raw, "monitoring run")
    with deps().engine.connect() as conn:
        run = monitoring.get_run(conn, run_id)
        if run is None:
            raise NotFound(f"no monitoring run {raw}")
        return run, monitoring.run_metrics(conn, [run_id])[run_id]


def _run_json(run: Row[Any], metrics: list[Row[Any]]) -> dict[str, Any]:
    drift = [m for m in metrics if m.kind == "drift"]
    return {
        "run_id": str(run.id),
        "model": run.model,
        "model_version": run.model_version,
        "window_start": run.window_start.isoformat(),
        "window_end": run.window_end.isoformat(),
        "reference": run.reference,
        "status": run.status,
        "requests": run.requests,
        "judged_rows": run.judged_rows,
        "reference_rows": run.reference_rows,
        "sampling": run.sampling,
        "reason": run.reason,
        "drifted": [m.metric for m in drift if m.drifted],
        "drift": [
            {
                "metric": m.metric,
                "score": m.value,
                "method": m.method,
                "threshold": m.threshold,
                "calibrated_rows": m.calibrated_rows,
                "drifted": m.drifted,
            }
            for m in drift
        ],
        "operations": {m.metric: m.value for m in metrics if m.kind == "operations"},
        "quality": {m.metric + (f":{m.key}" if m.key else ""): m.value for m in metrics if m.kind == "quality"},
        "report_url": url_for("monitoring.get_report", run_id=str(run.id)) if run.report_key else None,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat(),
    }


def _parse_since(raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidRequest("since must be an ISO 8601 time, e.g. 2026-11-25T09:00:00Z", {"field": "since"}) from None
    if parsed.tzinfo is None:
        raise InvalidRequest("since must carry a time zone, e.g. 2026-11-25T09:00:00Z", {"field": "since"})
    return parsed


def _parse_int(name: str, raw: str | None, default: int, minimum: int, maximum: int | None) -> int:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"from {minimum} to {maximum}" if maximum is not None else f"of at least {minimum}"
        raise InvalidRequest(f"{name} must be a whole number {bounds}", {"field": name})
    return value
