"""What an upstream failure means for routing: its class (for fallbacks), whether it counts
against the deployment's breaker, and whether trying again may help."""

from __future__ import annotations

from llmgateway.config import ErrorClass
from llmgateway.errors import GatewayError

_CLASSES: dict[str, ErrorClass] = {
    "UPSTREAM_UNAVAILABLE": "unavailable",
    "UPSTREAM_CONNECT_FAILED": "unavailable",
    "UPSTREAM_CONNECTION_LOST": "unavailable",
    "UPSTREAM_STREAM_CUT": "unavailable",
    "UPSTREAM_STREAM_ERROR": "unavailable",
    "UPSTREAM_MALFORMED_RESPONSE": "unavailable",
    "UPSTREAM_RESPONSE_TOO_LARGE": "unavailable",
    "UPSTREAM_AUTH_FAILED": "unavailable",
    "UPSTREAM_ERROR": "unavailable",
    "BREAKER_OPEN": "unavailable",
    "BULKHEAD_FULL": "unavailable",
    "DEPLOYMENT_RATE_LIMITED": "rate_limited",
    "UPSTREAM_RATE_LIMITED": "rate_limited",
    "UPSTREAM_QUOTA_EXHAUSTED": "rate_limited",
    "UPSTREAM_TIMEOUT": "timeout",
    "UPSTREAM_STALL": "timeout",
    "CONTEXT_LENGTH_EXCEEDED": "context_length_exceeded",
    "CONTENT_FILTERED": "content_filtered",
}
# Failures that say something about the deployment's health (the caller's 4xx never do).
_BREAKER_FAILURES = frozenset(
    reason
    for reason, error_class in _CLASSES.items()
    if error_class in ("unavailable", "rate_limited", "timeout")
    # The gateway's own refusals say nothing about the deployment's health.
    and reason not in ("BREAKER_OPEN", "BULKHEAD_FULL", "DEPLOYMENT_RATE_LIMITED")
)
# Transient failures the same deployment may not repeat. Not quota (billing), not auth, not an
# answer it could not give properly (it would give the same again; another deployment may not).
_RETRYABLE = _BREAKER_FAILURES - {
    "UPSTREAM_QUOTA_EXHAUSTED",
    "UPSTREAM_AUTH_FAILED",
    "UPSTREAM_MALFORMED_RESPONSE",
    "UPSTREAM_RESPONSE_TOO_LARGE",
}


def error_class(error: GatewayError) -> ErrorClass | None:
    """The fallback class of an error; None for errors the caller caused."""
    return _CLASSES.get(error.reason)


def counts_against_breaker(error: GatewayError) -> bool:
    return error.reason in _BREAKER_FAILURES


def retryable(error: GatewayError) -> bool:
    return error.reason in _RETRYABLE


def tries_next_deployment(error: GatewayError) -> bool:
    """Whether another deployment of the same model may succeed where this one failed. A context
    window or content filter is the model's, so those go straight to the fallback models; a
    capability one deployment lacks may be another's."""
    return error.reason == "UNSUPPORTED_CAPABILITY" or error_class(error) in (
        "unavailable",
        "rate_limited",
        "timeout",
    )
