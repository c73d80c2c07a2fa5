"""Turn an HTTP body into a SubmitInference command, or say exactly what is wrong with it."""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from gateway.errors import BadIdempotencyKey, InvalidRequest, MalformedJson
from inference_core.events import PRIORITIES, Priority

MAX_METADATA_DEPTH = 16
MAX_IDEMPOTENCY_KEY_LENGTH = 255
MAX_DEADLINE_SECONDS = 3600  # a request may wait in its model's queue at most an hour before it expires
MAX_CALLBACK_URL_LENGTH = 2048
# An http(s) URL with a host name or IPv4 address, an optional port (1-65535) and printable ASCII after
# it; no credentials. The document states this pattern as it is (tests/unit/test_openapi.py).
CALLBACK_URL_PATTERN = (
    r"^https?://[A-Za-z0-9][A-Za-z0-9.-]{0,252}"
    r"(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?"
    r"([/?#][!-~]*)?$"
)
_CALLBACK_URL = re.compile(CALLBACK_URL_PATTERN)
_ALLOWED_FIELDS = ("action", "text", "metadata", "deadline_seconds", "priority", "callback_url")


@dataclass(frozen=True)
class SubmitInference:
    action: str
    text: str
    metadata: dict[str, Any]
    idempotency_key: str | None
    deadline_seconds: int | None = None  # not computed if still queued this long after it was queued
    priority: Priority | None = None  # None: normal
    callback_url: str | None = None  # POSTed the final record (gateway.callbacks)

    @property
    def fingerprint(self) -> str:
        """Identifies the body, so a reused Idempotency-Key with another body is caught."""
        body: dict[str, Any] = {"action": self.action, "text": self.text, "metadata": self.metadata}
        if self.deadline_seconds is not None:  # absent from the fingerprints of requests sent without one
            body["deadline_seconds"] = self.deadline_seconds
        if self.priority is not None:  # likewise
            body["priority"] = self.priority
        if self.callback_url is not None:  # likewise
            body["callback_url"] = self.callback_url
        canonical = json.dumps(
            body,
            sort_keys=True,
            ensure_ascii=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except RecursionError:
        raise MalformedJson("JSON is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError, oversize ints, bad UTF-8
        raise MalformedJson(f"request body is not valid JSON: {exc}") from None


def parse_submission(body: Any, idempotency_key: str | None) -> SubmitInference:
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object with 'action' and 'text'")
    unknown = sorted(set(body) - set(_ALLOWED_FIELDS))
    if unknown:
        raise InvalidRequest(
            f"unknown field(s): {', '.join(unknown)}; allowed: {', '.join(_ALLOWED_FIELDS)}",
            {"unknown_fields": unknown},
        )
    action = _required_string(body, "action")
    text = _required_string(body, "text")
    metadata = body.get("metadata", {})
    if not isinstance(metadata, dict):
        raise InvalidRequest("'metadata' must be a JSON object", {"field": "metadata"})
    _check_storable(metadata, "metadata", depth=1)
    deadline = body.get("deadline_seconds")
    if isinstance(deadline, float) and deadline.is_integer():
        deadline = int(deadline)  # 30.0 is the integer 30 in JSON (and in the document's schema)
    if deadline is not None and (
        isinstance(deadline, bool) or not isinstance(deadline, int) or not 1 <= deadline <= MAX_DEADLINE_SECONDS
    ):
        raise InvalidRequest(
            f"'deadline_seconds' must be a whole number of seconds from 1 to {MAX_DEADLINE_SECONDS}",
            {"field": "deadline_seconds"},
        )
    priority = body.get("priority")
    if priority is not None and priority not in PRIORITIES:
        raise InvalidRequest(f"'priority' must be one of: {', '.join(PRIORITIES)}", {"field": "priority"})
    callback_url = _callback_url(body.get("callback_url"))
    key = _idempotency_key(idempotency_key)
    return SubmitInference(action, text, metadata, key, deadline, priority, callback_url)


def _callback_url(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_CALLBACK_URL_LENGTH or not _CALLBACK_URL.fullmatch(value):
        raise InvalidRequest(
            f"'callback_url' must be an http(s) URL with a host name or IPv4 address, an optional port, no "
            f"credentials and printable ASCII only, at most {MAX_CALLBACK_URL_LENGTH} characters",
            {"field": "callback_url"},
        )
    return value


def parse_feedback(body: Any) -> str:
    """The label of a feedback body ``{"label": "..."}``."""
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object with 'label'")
    unknown = sorted(set(body) - {"label"})
    if unknown:
        raise InvalidRequest(f"unknown field(s): {', '.join(unknown)}; allowed: label", {"unknown_fields": unknown})
    return _required_string(body, "label")


def _required_string(body: dict[str, Any], field: str) -> str:
    if field not in body:
        raise InvalidRequest(f"'{field}' is required", {"field": field})
    value = body[field]
    if not isinstance(value, str):
        raise InvalidRequest(f"'{field}' must be a string, got {_json_type(value)}", {"field": field})
    if not value.strip():
        raise InvalidRequest(f"'{field}' must not be empty", {"field": field})
    _check_text(value, field)
    return value


def _check_text(value: str, where: str) -> None:
    # PostgreSQL cannot store NUL in text or JSONB, nor lone UTF-16 surrogates in UTF-8.
    if "\x00" in value:
        raise InvalidRequest(f"'{where}' must not contain the NUL character (\\u0000)", {"field": where})
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequest(f"'{where}' contains an unpaired UTF-16 surrogate", {"field": where}) from None


def _check_storable(value: Any, where: str, depth: int) -> None:
    if depth > MAX_METADATA_DEPTH:
        raise InvalidRequest(f"'{where}' is nested deeper than {MAX_METADATA_DEPTH} levels", {"field": where})
    if isinstance(value, str):
        _check_text(value, where)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, where)
            _check_storable(item, where, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_storable(item, where, depth + 1)
    elif isinstance(value, float) and not math.isfinite(value):
        # json.loads turns 1e999 into inf, which JSON (and PostgreSQL) cannot represent.
        raise InvalidRequest(f"'{where}' holds a number out of range", {"field": where})


def _idempotency_key(raw: str | None) -> str | None:
    if raw is None:
        return None
    if not 1 <= len(raw) <= MAX_IDEMPOTENCY_KEY_LENGTH or not raw.isascii() or not raw.isprintable():
        raise BadIdempotencyKey(f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters")
    return raw


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
