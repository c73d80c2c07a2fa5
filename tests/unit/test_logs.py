"""Log lines: one JSON object each (or text for a person), carrying the request id and trace id of the
request they are about."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider

from gateway.app import create_app
from gateway.settings import Settings
from inference_core import logs, tracing
from inference_core.logs import JsonFormatter, TextFormatter
from inference_core.settings import Env

log = logging.getLogger("test_logs")


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """What `log` writes, as JSON lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("svc"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    yield stream
    log.removeHandler(handler)


def written(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_is_one_json_object_with_the_request_it_is_about(lines: io.StringIO) -> None:
    log.info("plain")
    log.info("given %s", "r-1", extra={"request_id": "r-1"})
    with logs.about("r-2"):
        log.warning("bound")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    plain, given, bound, failed = written(lines)
    assert plain["message"] == "plain" and plain["service"] == "svc" and plain["level"] == "INFO"
    assert "request_id" not in plain and "trace_id" not in plain
    assert given["request_id"] == "r-1" and bound["request_id"] == "r-2"
    assert "ValueError: boom" in str(failed["exception"])


def test_a_line_logged_in_a_recorded_span_carries_its_trace_id(lines: io.StringIO) -> None:
    tracing.use(TracerProvider())
    try:
        with tracing.server_span("POST /v1/inference") as span:
            log.info("inside")
        trace_id = format(span.get_span_context().trace_id, "032x")
    finally:
        tracing.use(None)
    (inside,) = written(lines)
    assert inside["trace_id"] == trace_id


def test_the_gateway_binds_the_request_id_of_the_route_it_handles(lines: io.StringIO) -> None:
    app = create_app(Settings.from_env({"DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/unused"}))
    app.add_url_rule("/t/<request_id>", "t", lambda request_id: log.info("handling") or "ok")
    assert app.test_client().get("/t/abc-123").status_code == 200
    log.info("after")
    handling, after = written(lines)
    assert handling["request_id"] == "abc-123" and "request_id" not in after


def test_text_is_for_people_and_an_unknown_format_is_refused() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    record.request_id = "r-9"
    assert TextFormatter().format(record).endswith("x: hello [request_id=r-9]")
    with pytest.raises(SystemExit, match="LOG_FORMAT must be json or text"):
        logs.configure("svc", Env({"LOG_FORMAT": "xml"}))
