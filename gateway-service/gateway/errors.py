"""The gateway's errors. Each maps to one HTTP status at the edge (api.py)."""

from __future__ import annotations

from typing import Any

RETRY_AFTER_SECONDS = 5  # what a 503 asks a client to wait before trying again


class ApiError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def headers(self) -> dict[str, str]:
        return {}

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        return {"error": error}


class MalformedJson(ApiError):
    status, code = 400, "malformed_json"


class UnsupportedMediaType(ApiError):
    status, code = 415, "unsupported_media_type"


class InvalidRequest(ApiError):
    status, code = 422, "invalid_request"


class UnknownAction(ApiError):
    status, code = 422, "unknown_action"


class BadIdempotencyKey(ApiError):
    status, code = 400, "invalid_idempotency_key"


class IdempotencyConflict(ApiError):
    status, code = 409, "idempotency_key_reused"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="inference-gateway"'}


class RateLimited(ApiError):
    status, code = 429, "rate_limited"

    def __init__(self, message: str, details: dict[str, Any], retry_after: int) -> None:
        super().__init__(message, details)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class TokenQuotaExceeded(RateLimited):
    code = "token_quota_exceeded"


class ExceedsTokenQuota(ApiError):
    """A request larger than a window of its tenant's token quota: it would never fit, so no Retry-After."""

    status, code = 422, "exceeds_token_quota"


class CallbackNotAllowed(ApiError):
    """A well-formed callback the platform will not make: to a non-public address, or for a tenant without a secret."""

    status, code = 403, "callback_url_not_allowed"


class PriorityNotAllowed(ApiError):
    status, code = 403, "priority_not_allowed"


class NotFound(ApiError):
    status, code = 404, "not_found"


class NotSucceeded(ApiError):
    status, code = 409, "request_not_succeeded"


class UnknownLabel(ApiError):
    """A label the request's model does not answer with: the body may be valid (another model's label),
    it conflicts with the request it is about."""

    status, code = 409, "unknown_label"


class PayloadTooLarge(ApiError):
    status, code = 413, "payload_too_large"


class NotReady(ApiError):
    status, code = 503, "not_ready"


class DependencyUnavailable(ApiError):
    """A dependency (the database, S3) cannot be reached: the client should retry, not report a bug."""

    status, code = 503, "dependency_unavailable"

    def __init__(self, dependency: str, message: str) -> None:
        super().__init__(message, {"dependency": dependency})

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(RETRY_AFTER_SECONDS)}
