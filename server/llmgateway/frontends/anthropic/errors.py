"""GatewayErrors in Anthropic's shape: `{"type": "error", "error": {"type", "message"}}` with the
reason's HTTP status from the one table (llmgateway/reasons.py), `retry-after` from the error's
retry delay, and the same body as an `event: error` once a stream has begun.

Only the error-type names are Anthropic's own here; statuses come from the table, with one
exception (`status_of`)."""

from __future__ import annotations

import math

import orjson
from aiohttp import web

from llmgateway.errors import FieldViolation, GatewayError
from llmgateway.reasons import REASONS, Reason

# Anthropic's error types by status; any other 5xx is api_error, any other 4xx invalid_request_error.
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_OVERLOADED = 529
_NOT_CARRIED = "not supported by this gateway (llmgateway.v1 cannot carry it)"


def invalid(param: str, description: str) -> GatewayError:
    """The caller's request is malformed at `param` (named as Anthropic names it: `messages.0.content`)."""
    return GatewayError(
        Reason.INVALID_REQUEST,
        f"{param}: {description}",
        metadata={"param": param},
        field_violations=[FieldViolation(param, description)],
    )


def not_carried(param: str) -> GatewayError:
    """A parameter the Messages API has and v1 cannot carry: refused, never dropped silently."""
    return invalid(param, _NOT_CARRIED)


def unsayable(what: str) -> GatewayError:
    """The model's answer has something a Messages answer cannot say (the provider's doing: an
    answer is never bent into a wrong one)."""
    return GatewayError(
        Reason.UPSTREAM_MALFORMED_RESPONSE,
        f"the model's answer cannot be given as a Message: {what}",
    )


def status_of(error: GatewayError) -> int:
    """The reason's HTTP status from the table, except that the gateway shedding load answers 529,
    which is what Anthropic (and its SDKs' OverloadedError) means by "overloaded, try again later";
    the table's 503 stays for everything else."""
    if error.reason is Reason.OVERLOADED:
        return _OVERLOADED
    return REASONS[error.reason].http_status


def error_type(status: int) -> str:
    return _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def _envelope(error: GatewayError, status: int) -> dict[str, object]:
    return {"type": "error", "error": {"type": error_type(status), "message": error.message}}


def error_response(error: GatewayError, request_id: str) -> web.Response:
    """The HTTP answer to a call that failed before its response began."""
    status = status_of(error)
    body = {**_envelope(error, status), "request_id": request_id}
    headers = {"content-type": "application/json", "request-id": request_id}
    if error.retry_after is not None:
        headers["retry-after"] = str(math.ceil(max(error.retry_after, 0.0)))
    elif REASONS[error.reason].reason_class == "limit":
        # A spent budget: no retry helps until its period resets, so the SDKs should not try.
        headers["x-should-retry"] = "false"
    return web.Response(status=status, body=orjson.dumps(body), headers=headers)


def error_event(error: GatewayError) -> bytes:
    """The data of the `error` event that ends a stream which failed after it began."""
    return orjson.dumps(_envelope(error, status_of(error)))
