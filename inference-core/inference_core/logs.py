"""Each process's log lines: JSON objects, one per line, for a log pipeline; or plain text for a person
at a terminal (``LOG_FORMAT=text``, which ``make up`` sets).

A line about a request carries its ``request_id`` and, when the request is traced, its ``trace_id``:
from the record itself (``log.info(..., extra={"request_id": ...})``), else from what the code handling
it bound with ``about``, and the trace id from the span being recorded, if any.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime

from opentelemetry import trace

from inference_core.settings import Env

FORMATS = ("json", "text")
_TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_HANDLER = "inference-platform"
_about: ContextVar[str | None] = ContextVar("request_id", default=None)


def configure(service: str, env: Env) -> None:
    """Log INFO and above to stderr, in ``LOG_FORMAT`` (json by default); exit naming it if it is neither."""
    chosen = env.text("LOG_FORMAT", "json").lower()
    if chosen not in FORMATS:
        raise SystemExit(f"{service}: environment variable LOG_FORMAT must be json or text, got {chosen!r}")
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter(service) if chosen == "json" else TextFormatter())
    handler.set_name(_HANDLER)
    root = logging.getLogger()
    for configured in [h for h in root.handlers if h.get_name() == _HANDLER]:  # configured again: replaced
        root.removeHandler(configured)
    root.addHandler(handler)
    root.setLevel(logging.INFO)


@contextmanager
def about(request_id: object) -> Iterator[None]:
    """Lines logged inside the block are about this request."""
    token = bind(request_id)
    try:
        yield
    finally:
        unbind(token)


def bind(request_id: object) -> Token[str | None]:
    """Lines logged from here (in this thread or task) are about this request, until ``unbind``."""
    return _about.set(str(request_id))


def unbind(token: Token[str | None]) -> None:
    _about.reset(token)


def request_and_trace(record: logging.LogRecord) -> tuple[str | None, str | None]:
    request_id = getattr(record, "request_id", None) or _about.get()
    context = trace.get_current_span().get_span_context()
    trace_id = trace.format_trace_id(context.trace_id) if context.is_valid else None
    return (str(request_id) if request_id is not None else None), trace_id


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self._service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id, trace_id = request_and_trace(record)
        if request_id is not None:
            entry["request_id"] = request_id
        if trace_id is not None:
            entry["trace_id"] = trace_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(_TEXT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id, trace_id = request_and_trace(record)
        tags = " ".join(f"{k}={v}" for k, v in (("request_id", request_id), ("trace_id", trace_id)) if v)
        return f"{line} [{tags}]" if tags else line
