"""A GatewayError in OpenAI's error shape, `{"error": {"message", "type", "param", "code"}}`, with
the HTTP status from the one table of reasons (reasons.REASONS) and `retry-after` from its retry
delay. `code` is the reason in lower case: OpenAI's own codes where they exist (`invalid_api_key`,
`model_not_found`, `context_length_exceeded`), the gateway's reason otherwise."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from llmgateway.errors import GatewayError
from llmgateway.reasons import REASONS, Reason

# OpenAI's error types by status; the SDKs pick their exception class by status alone.
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}
# Billing, not load: OpenAI says `insufficient_quota`, which clients know not to retry.
_QUOTA = frozenset({Reason.BUDGET_EXCEEDED, Reason.UPSTREAM_QUOTA_EXHAUSTED})


def _param(error: GatewayError, wire_param: Callable[[str], str]) -> str | None:
    if error.field_violations:
        return wire_param(error.field_violations[0].field)
    return None


def error_body(error: GatewayError, wire_param: Callable[[str], str] = str) -> dict[str, Any]:
    """The `{"error": ...}` object; `wire_param` names a v1 field path as the caller sent it."""
    status = REASONS[error.reason].http_status
    kind = "insufficient_quota" if error.reason in _QUOTA else _TYPES.get(status, "server_error")
    message = error.message
    violations = error.field_violations
    if violations and error.reason is Reason.INVALID_REQUEST and message != violations[0].description:
        # The core words its violations with v1 paths; say them in the caller's parameter names
        # (the door's own refusals are worded for the caller already).
        message = "; ".join(f"{wire_param(v.field)}: {v.description}" for v in violations[:5])
    return {
        "error": {
            "message": message,
            "type": kind,
            "param": _param(error, wire_param),
            "code": error.reason.lower(),
        }
    }


def error_headers(error: GatewayError) -> dict[str, str]:
    if error.retry_after is None:
        return {}
    # Whole seconds, rounded up: the SDKs also read `retry-after-ms`, which keeps the precision.
    return {
        "retry-after": str(max(math.ceil(error.retry_after), 0)),
        "retry-after-ms": str(max(math.ceil(error.retry_after * 1000), 0)),
    }


def error_response(
    error: GatewayError,
    wire_param: Callable[[str], str] = str,
    headers: tuple[tuple[str, str], ...] = (),
) -> web.Response:
    """The HTTP response for an error raised before anything was sent."""
    response = web.Response(
        status=REASONS[error.reason].http_status,
        body=orjson.dumps(error_body(error, wire_param)),
        content_type="application/json",
        headers=error_headers(error),
    )
    for name, value in headers:
        response.headers[name] = value
    return response
