"""HTTP routes. Views parse, call one handler, and shape the answer; errors become JSON here."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any
from uuid import UUID

import botocore.exceptions
import sqlalchemy.exc
import yaml
from flask import Blueprint, Flask, Response, jsonify, request, stream_with_context, url_for
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from gateway import callbacks, feedback, handlers
from gateway.auth import current_caller, current_tenant, require_tenant
from gateway.dependencies import deps
from gateway.errors import (
    ApiError,
    CallbackNotAllowed,
    DependencyUnavailable,
    InvalidRequest,
    NotFound,
    NotReady,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from gateway.metrics import exposition
from gateway.rate_limit import enforce_rate_limit
from gateway.records import iso, request_record
from gateway.unit_of_work import ActionRow, HumanLabel, StoredRequest
from gateway.validation import parse_feedback, parse_json, parse_submission
from inference_core import tracing
from inference_core.aws.sns import find_topic_arn
from inference_core.db.schema import FINISHED, LabelSource

log = logging.getLogger(__name__)

SSE_RETRY_MILLISECONDS = 1000  # how soon an EventSource reconnects after a stream ends unfinished
SSE_KEEPALIVE_SECONDS = 15

bp = Blueprint("api", __name__)  # the tenants' routes: each needs an API key, and counts against its rate limit
bp.before_request(require_tenant)
bp.before_request(enforce_rate_limit)
probes = Blueprint("probes", __name__)  # open: health, readiness and the API's description


@bp.post("/v1/inference")
def submit_inference() -> tuple[Response, int, dict[str, str]]:
    """Accept a request; its trace starts here (inference_core.tracing)."""
    with tracing.server_span("POST /v1/inference", {"inference.tenant": current_tenant()}):
        return _submit()


def _submit() -> tuple[Response, int, dict[str, str]]:
    if request.mimetype != "application/json":
        raise UnsupportedMediaType("Content-Type must be application/json")
    wait = _parse_wait(request.args.get("wait"), deps().settings.max_wait_seconds)  # refused before anything is kept
    body = parse_json(request.get_data(cache=False))
    command = parse_submission(body, request.headers.get("Idempotency-Key"))
    if command.callback_url is not None:
        try:
            callbacks.refuse_literal(command.callback_url, deps().settings.callbacks.allow_private_networks)
        except callbacks.CallbackRefused as exc:
            raise CallbackNotAllowed(f"callback_url: {exc}", {"field": "callback_url"}) from None
    tokens = deps().token_estimator.estimate(command.action, command.text)
    submission = handlers.submit(deps().uow, current_caller(), command, tokens, tracing.current_traceparent())
    tracing.annotate({"inference.request_id": str(submission.request_id), "inference.action": command.action})
    headers = {"Location": url_for("api.get_inference", request_id=str(submission.request_id))}
    if submission.replayed:
        headers["Idempotent-Replayed"] = "true"
    if "wait" in request.args:
        return _submitted_and_waited(submission, wait, headers)
    return jsonify(request_id=str(submission.request_id), status=submission.status), 202, headers


def _submitted_and_waited(
    submission: handlers.Submission, seconds: float, headers: dict[str, str]
) -> tuple[Response, int, dict[str, str]]:
    """POST ...?wait=N: the request's record (200) if it finishes within N seconds, else its status (202),
    as GET ...?wait=N would answer right after the submission, one round trip sooner."""
    deadline = time.monotonic() + seconds
    if not submission.replayed:  # a request stored a moment ago is not finished: wait before the first read
        deps().waiter.wait(submission.request_id, seconds)
    first = handlers.read_request(deps().uow, current_tenant(), submission.request_id)
    *_, (stored, labels) = _reads(submission.request_id, first, deadline - time.monotonic())
    if stored.status in FINISHED:
        return jsonify(request_record(stored, labels)), 200, headers
    return jsonify(request_id=str(stored.id), status=stored.status), 202, headers


@bp.get("/v1/inference/<request_id>")
def get_inference(request_id: str) -> Response:
    parsed_id = parse_id(request_id, "inference request")
    wait = _parse_wait(request.args.get("wait"), deps().settings.max_wait_seconds)
    first = handlers.read_request(deps().uow, current_tenant(), parsed_id)
    *_, (stored, labels) = _reads(parsed_id, first, wait)  # the last read: finished, or the wait is over
    return jsonify(request_record(stored, labels))


@bp.get("/v1/inference/<request_id>/events")
def stream_inference_events(request_id: str) -> Response:
    """The request's status as server-sent events: its record now, then again at each change of status,
    until it finishes (or the stream has lasted GATEWAY_MAX_STREAM_SECONDS; EventSource reconnects).

    Each event's id is the status it reports: a client reconnecting with ``Last-Event-ID`` is sent the
    record only once its status differs from the one it has, and one that already has the final
    status gets 204, which tells an EventSource to stop reconnecting.
    """
    parsed_id = parse_id(request_id, "inference request")
    first = handlers.read_request(deps().uow, current_tenant(), parsed_id)  # a 404 before any stream starts
    known = request.headers.get("Last-Event-ID")
    if known == first[0].status and known in FINISHED:
        return Response(status=204)
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # no proxy buffering either
    events = _status_events(parsed_id, first, known)
    return Response(stream_with_context(events), mimetype="text/event-stream", headers=headers)


def _status_events(
    request_id: UUID, first: tuple[StoredRequest, list[HumanLabel]], sent_status: str | None
) -> Iterator[str]:
    yield f"retry: {SSE_RETRY_MILLISECONDS}\n\n"
    last_sent = time.monotonic()
    for stored, labels in _reads(request_id, first, deps().settings.max_stream_seconds):
        if stored.status != sent_status:
            record = json.dumps(request_record(stored, labels), separators=(",", ":"))
            yield f"event: status\nid: {stored.status}\ndata: {record}\n\n"
            sent_status, last_sent = stored.status, time.monotonic()
        elif time.monotonic() - last_sent >= SSE_KEEPALIVE_SECONDS:
            yield ": keep-alive\n\n"  # a comment: keeps proxies from closing an idle stream
            last_sent = time.monotonic()


def _reads(
    request_id: UUID, first: tuple[StoredRequest, list[HumanLabel]], seconds: float
) -> Iterator[tuple[StoredRequest, list[HumanLabel]]]:
    """`first`, then the request read again each time the waiter wakes (its finish notified, else a
    one-second slice), until it finishes, `seconds` have passed or the server is stopping."""
    deadline = time.monotonic() + seconds
    read = first
    while True:
        yield read
        remaining = deadline - time.monotonic()
        if read[0].status in FINISHED or remaining <= 0 or deps().waiter.stopping:
            return
        deps().waiter.wait(request_id, remaining)
        read = handlers.read_request(deps().uow, current_tenant(), request_id)


@bp.post("/v1/inference/<request_id>/feedback")
def give_feedback(request_id: str) -> tuple[Response, int]:
    """The client's label for its request: 201 the first time, 200 when it was already given (or changed)."""
    parsed_id = parse_id(request_id, "inference request")
    if request.mimetype != "application/json":
        raise UnsupportedMediaType("Content-Type must be application/json")
    label = parse_feedback(parse_json(request.get_data(cache=False)))
    with deps().uow.transaction() as tx:
        stored = feedback.give_feedback(tx, current_tenant(), parsed_id, label)
    body = {"request_id": str(parsed_id), "source": LabelSource.CLIENT.value, "label": stored.label}
    body |= {"created_at": iso(stored.created_at), "updated_at": iso(stored.updated_at)}
    return jsonify(body), 201 if stored.created else 200


@bp.get("/v1/usage")
def get_usage() -> Response:
    """The tenant's tokens in its current quota windows: used (reserved for requests in flight, then what
    their models read), the limit and what remains (null: no limit)."""
    usage = handlers.usage(deps().uow, current_tenant())
    return jsonify(
        tenant=current_tenant(),
        now=iso(usage.now),
        windows=[
            {
                "window": w.name,
                "starts_at": iso(w.starts_at),
                "resets_at": iso(w.ends_at),
                "used_tokens": w.used,
                "limit_tokens": w.limit,
                "remaining_tokens": w.remaining,
            }
            for w in usage.windows
        ],
    )


@bp.get("/v1/actions")
def list_actions() -> Response:
    ttl = timedelta(seconds=deps().settings.serving_ttl_seconds)
    now = datetime.now(UTC)
    with deps().uow.transaction() as tx:
        actions = tx.actions()
    return jsonify(
        actions=[
            {
                "action": a.action,
                "model": a.model_name,
                "version": a.model_version,
                "serving": a.last_seen_at is not None and now - a.last_seen_at <= ttl,
                "last_seen_at": iso(a.last_seen_at),
            }
            for a in actions
        ]
    )


@probes.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@probes.get("/readyz")
def readyz() -> Response:
    checks: dict[str, str] = {}
    try:
        with deps().engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    try:
        find_topic_arn(deps().sns_client, deps().settings.aws.names.topic)
        checks["sns"] = "ok"
    except Exception as exc:
        checks["sns"] = f"unreachable: {type(exc).__name__}"
    # Ready while the database answers: with SNS unreachable a submission is still accepted (the outbox
    # publishes it later), so taking every gateway out of its Service would turn a delay into an outage.
    if checks["database"] != "ok":
        raise NotReady("the database is not reachable", {"checks": checks})
    return jsonify(status="ready" if checks["sns"] == "ok" else "degraded", checks=checks)


@probes.get("/metrics")
def get_metrics() -> Response:
    """Prometheus's text format: this server's figures, every gunicorn process's together."""
    return Response(exposition(deps().settings.metrics_multiprocess_dir), mimetype=CONTENT_TYPE_LATEST)


@probes.get("/openapi.json")
def openapi() -> Response:
    """The document, with the catalogue's actions and label sets as the enums the gateway enforces."""
    with deps().uow.transaction() as tx:
        return jsonify(with_catalogue(load_openapi(), tx.actions()))


def load_openapi() -> dict[str, Any]:
    return yaml.safe_load(resources.files("gateway").joinpath("openapi.yaml").read_text())


def with_catalogue(document: dict[str, Any], actions: Sequence[ActionRow]) -> dict[str, Any]:
    """`action` at submit is one of the known actions, a feedback `label` one of the models' labels
    (an empty catalogue leaves them open: an enum must name something)."""
    schemas = document["components"]["schemas"]
    if actions:
        schemas["InferenceSubmission"]["properties"]["action"]["enum"] = [a.action for a in actions]
    labels = sorted({label for a in actions for label in a.labels})
    if labels:
        schemas["FeedbackBody"]["properties"]["label"]["enum"] = labels
    return document


def parse_id(raw: str, what: str) -> UUID:
    """A path's id; anything but a UUID is an unknown `what` (404), as an id that does not exist is."""
    try:
        return UUID(raw)
    except ValueError:
        raise NotFound(f"no {what} {raw!r}: {what} ids are UUIDs") from None


def _parse_wait(raw: str | None, maximum: int) -> float:
    if raw is None:
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0 <= value <= maximum:
        raise InvalidRequest(f"wait must be a number of seconds from 0 to {maximum}", {"field": "wait"})
    return value


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(error: ApiError) -> tuple[Response, int, dict[str, str]]:
        return jsonify(error.to_json()), error.status, error.headers()

    # An outage is not a bug: 503 with Retry-After, naming what is down. A submission cut by one may
    # have been stored before the connection broke; retried with the same Idempotency-Key, it is
    # answered with the original request instead of a second one.
    @app.errorhandler(sqlalchemy.exc.OperationalError)
    @app.errorhandler(sqlalchemy.exc.InterfaceError)
    @app.errorhandler(sqlalchemy.exc.TimeoutError)
    def database_unavailable(error: Exception) -> tuple[Response, int, dict[str, str]]:
        log.warning("the database is unavailable: %s", str(error).partition("\n")[0] or type(error).__name__)
        return api_error(DependencyUnavailable("database", "the database cannot be reached; retry shortly"))

    @app.errorhandler(botocore.exceptions.ConnectionError)
    @app.errorhandler(botocore.exceptions.HTTPClientError)
    def aws_unavailable(error: Exception) -> tuple[Response, int, dict[str, str]]:
        log.warning("AWS is unavailable: %s", error)
        return api_error(DependencyUnavailable("aws", f"an AWS endpoint cannot be reached ({type(error).__name__})"))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[Response, int] | tuple[Response, int, dict[str, str]]:
        if error.code == 413:
            limit = deps().settings.max_body_bytes
            return api_error(PayloadTooLarge(f"request body is larger than {limit} bytes"))
        code = (error.name or "error").lower().replace(" ", "_")
        body = jsonify({"error": {"code": code, "message": error.description}})
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            return body, 405, {"Allow": ", ".join(sorted(error.valid_methods))}
        return body, error.code or 500

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> tuple[Response, int]:
        log.exception("unhandled error")
        return jsonify({"error": {"code": "internal", "message": "internal error; it has been logged"}}), 500
