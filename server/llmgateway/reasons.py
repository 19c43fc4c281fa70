"""The one table of error reasons: every `ErrorInfo.reason` the gateway can send, with its usual gRPC
code, its class (what routing does about it), the HTTP status a front door answers with, and
whether it counts against a deployment's breaker and may be retried on the same deployment.

A reason missing here cannot be raised (GatewayError takes a `Reason`), so a new upstream failure
can no longer be taken for the caller's fault by default; tests/test_reasons.py keeps README's
error table and this one in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

import grpc

# The status vocabulary every door renders from: google.rpc's canonical codes, as grpc spells them.
# The core names statuses through this alias and never imports grpc itself.
Code = grpc.StatusCode

# "caller": the request itself is at fault (no retry, no fallback). "limit": the caller's own
# quota at the gateway. "gateway": the gateway refuses for its own state (overload, shutdown, its
# limits store). "internal": a bug. "interrupted": a stream cut after content was sent (its cause
# says why). The rest are the fallback classes of ModelSettings.fallback_on.
ReasonClass = Literal[
    "caller",
    "limit",
    "gateway",
    "internal",
    "unavailable",
    "rate_limited",
    "timeout",
    "context_length_exceeded",
    "content_filtered",
    "interrupted",
]


class Reason(StrEnum):
    INVALID_REQUEST = "INVALID_REQUEST"
    PII_DETECTED = "PII_DETECTED"
    INVALID_MEDIA_URI = "INVALID_MEDIA_URI"
    MEDIA_URI_REFUSED = "MEDIA_URI_REFUSED"
    MEDIA_FETCH_FAILED = "MEDIA_FETCH_FAILED"
    MEDIA_TOO_LARGE = "MEDIA_TOO_LARGE"
    MODEL_NOT_FOUND = "MODEL_NOT_FOUND"
    MISSING_API_KEY = "MISSING_API_KEY"
    INVALID_API_KEY = "INVALID_API_KEY"
    MODEL_NOT_ALLOWED = "MODEL_NOT_ALLOWED"
    ROUTE_REJECTED = "ROUTE_REJECTED"
    UNSUPPORTED_CAPABILITY = "UNSUPPORTED_CAPABILITY"
    NO_CAPABLE_DEPLOYMENT = "NO_CAPABLE_DEPLOYMENT"
    REASONING_UNSUPPORTED = "REASONING_UNSUPPORTED"
    RATE_LIMITED = "RATE_LIMITED"
    CONCURRENCY_LIMITED = "CONCURRENCY_LIMITED"
    BUDGET_EXCEEDED = "BUDGET_EXCEEDED"
    LIMITS_UNAVAILABLE = "LIMITS_UNAVAILABLE"
    OVERLOADED = "OVERLOADED"
    SHUTTING_DOWN = "SHUTTING_DOWN"
    BREAKER_OPEN = "BREAKER_OPEN"
    BULKHEAD_FULL = "BULKHEAD_FULL"
    DEPLOYMENT_RATE_LIMITED = "DEPLOYMENT_RATE_LIMITED"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    UPSTREAM_RATE_LIMITED = "UPSTREAM_RATE_LIMITED"
    UPSTREAM_QUOTA_EXHAUSTED = "UPSTREAM_QUOTA_EXHAUSTED"
    UPSTREAM_UNAVAILABLE = "UPSTREAM_UNAVAILABLE"
    UPSTREAM_AUTH_FAILED = "UPSTREAM_AUTH_FAILED"
    UPSTREAM_CONNECT_FAILED = "UPSTREAM_CONNECT_FAILED"
    UPSTREAM_CONNECTION_LOST = "UPSTREAM_CONNECTION_LOST"
    UPSTREAM_TIMEOUT = "UPSTREAM_TIMEOUT"
    UPSTREAM_STALL = "UPSTREAM_STALL"
    UPSTREAM_MALFORMED_RESPONSE = "UPSTREAM_MALFORMED_RESPONSE"
    UPSTREAM_RESPONSE_TOO_LARGE = "UPSTREAM_RESPONSE_TOO_LARGE"
    UPSTREAM_STREAM_CUT = "UPSTREAM_STREAM_CUT"
    UPSTREAM_STREAM_ERROR = "UPSTREAM_STREAM_ERROR"
    UPSTREAM_ERROR = "UPSTREAM_ERROR"
    UPSTREAM_REJECTED_REQUEST = "UPSTREAM_REJECTED_REQUEST"
    UPSTREAM_NOT_FOUND = "UPSTREAM_NOT_FOUND"
    REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
    CONTEXT_LENGTH_EXCEEDED = "CONTEXT_LENGTH_EXCEEDED"
    CONTENT_FILTERED = "CONTENT_FILTERED"
    STREAM_INTERRUPTED = "STREAM_INTERRUPTED"
    ADMIN_CREDENTIAL_REQUIRED = "ADMIN_CREDENTIAL_REQUIRED"
    KEY_NOT_FOUND = "KEY_NOT_FOUND"
    TENANT_NOT_FOUND = "TENANT_NOT_FOUND"
    TENANT_EXISTS = "TENANT_EXISTS"
    TENANT_HAS_KEYS = "TENANT_HAS_KEYS"
    DEFINED_IN_CONFIG = "DEFINED_IN_CONFIG"
    ADMIN_DATABASE_MISSING = "ADMIN_DATABASE_MISSING"
    ADMIN_DATABASE_UNAVAILABLE = "ADMIN_DATABASE_UNAVAILABLE"
    INTERNAL = "INTERNAL"


@dataclass(frozen=True)
class ReasonSpec:
    code: grpc.StatusCode  # the usual one (STREAM_INTERRUPTED carries its cause's)
    reason_class: ReasonClass
    http_status: int
    breaker: bool = False  # says the deployment is unwell: counts against its breaker
    retry: bool = False  # transient: the same deployment may answer if asked again


def _upstream(
    code: grpc.StatusCode, reason_class: ReasonClass, http_status: int, *, retry: bool = True
) -> ReasonSpec:
    """A failure of the provider's: it counts against the deployment's breaker."""
    return ReasonSpec(code, reason_class, http_status, breaker=True, retry=retry)


# HTTP statuses: a failure of every route is 503 (what the OpenAI and Anthropic SDKs retry, and
# what their APIs answer when overloaded), never 502; timeouts are 504.
REASONS: dict[Reason, ReasonSpec] = {
    Reason.INVALID_REQUEST: ReasonSpec(Code.INVALID_ARGUMENT, "caller", 400),
    Reason.PII_DETECTED: ReasonSpec(Code.INVALID_ARGUMENT, "caller", 400),
    Reason.INVALID_MEDIA_URI: ReasonSpec(Code.INVALID_ARGUMENT, "caller", 400),
    Reason.MEDIA_URI_REFUSED: ReasonSpec(Code.INVALID_ARGUMENT, "caller", 400),
    Reason.MEDIA_FETCH_FAILED: ReasonSpec(Code.INVALID_ARGUMENT, "caller", 400),
    Reason.MEDIA_TOO_LARGE: ReasonSpec(Code.INVALID_ARGUMENT, "caller", 400),
    Reason.MODEL_NOT_FOUND: ReasonSpec(Code.NOT_FOUND, "caller", 404),
    Reason.MISSING_API_KEY: ReasonSpec(Code.UNAUTHENTICATED, "caller", 401),
    Reason.INVALID_API_KEY: ReasonSpec(Code.UNAUTHENTICATED, "caller", 401),
    Reason.MODEL_NOT_ALLOWED: ReasonSpec(Code.PERMISSION_DENIED, "caller", 403),
    Reason.ROUTE_REJECTED: ReasonSpec(Code.PERMISSION_DENIED, "caller", 403),
    Reason.UNSUPPORTED_CAPABILITY: ReasonSpec(Code.FAILED_PRECONDITION, "caller", 400),
    Reason.NO_CAPABLE_DEPLOYMENT: ReasonSpec(Code.FAILED_PRECONDITION, "caller", 400),
    # Reasoning settings no deployment of the model can honour: the request must change (ask for
    # less, or another model), so it is an invalid argument rather than a passing state.
    Reason.REASONING_UNSUPPORTED: ReasonSpec(Code.INVALID_ARGUMENT, "caller", 400),
    Reason.RATE_LIMITED: ReasonSpec(Code.RESOURCE_EXHAUSTED, "limit", 429),
    Reason.CONCURRENCY_LIMITED: ReasonSpec(Code.RESOURCE_EXHAUSTED, "limit", 429),
    Reason.BUDGET_EXCEEDED: ReasonSpec(Code.RESOURCE_EXHAUSTED, "limit", 429),
    Reason.LIMITS_UNAVAILABLE: ReasonSpec(Code.UNAVAILABLE, "gateway", 503),
    Reason.OVERLOADED: ReasonSpec(Code.UNAVAILABLE, "gateway", 503),
    Reason.SHUTTING_DOWN: ReasonSpec(Code.UNAVAILABLE, "gateway", 503),
    # The gateway's own refusals on a deployment's behalf: the next deployment or fallback may
    # serve, but they say nothing new about the deployment's health.
    Reason.BREAKER_OPEN: ReasonSpec(Code.UNAVAILABLE, "unavailable", 503),
    Reason.BULKHEAD_FULL: ReasonSpec(Code.UNAVAILABLE, "unavailable", 503),
    Reason.DEPLOYMENT_RATE_LIMITED: ReasonSpec(Code.RESOURCE_EXHAUSTED, "rate_limited", 429),
    Reason.DEADLINE_EXCEEDED: ReasonSpec(Code.DEADLINE_EXCEEDED, "caller", 504),
    Reason.UPSTREAM_RATE_LIMITED: _upstream(Code.RESOURCE_EXHAUSTED, "rate_limited", 429),
    # Billing, not load: asking the same deployment again will not help.
    Reason.UPSTREAM_QUOTA_EXHAUSTED: _upstream(Code.RESOURCE_EXHAUSTED, "rate_limited", 429, retry=False),
    Reason.UPSTREAM_UNAVAILABLE: _upstream(Code.UNAVAILABLE, "unavailable", 503),
    Reason.UPSTREAM_AUTH_FAILED: _upstream(Code.UNAVAILABLE, "unavailable", 503, retry=False),
    Reason.UPSTREAM_CONNECT_FAILED: _upstream(Code.UNAVAILABLE, "unavailable", 503),
    Reason.UPSTREAM_CONNECTION_LOST: _upstream(Code.UNAVAILABLE, "unavailable", 503),
    Reason.UPSTREAM_TIMEOUT: _upstream(Code.UNAVAILABLE, "timeout", 504),
    Reason.UPSTREAM_STALL: _upstream(Code.UNAVAILABLE, "timeout", 504),
    # An answer it could not give properly it would give the same again; another deployment may not.
    Reason.UPSTREAM_MALFORMED_RESPONSE: _upstream(Code.UNAVAILABLE, "unavailable", 503, retry=False),
    Reason.UPSTREAM_RESPONSE_TOO_LARGE: _upstream(Code.UNAVAILABLE, "unavailable", 503, retry=False),
    Reason.UPSTREAM_STREAM_CUT: _upstream(Code.UNAVAILABLE, "unavailable", 503),
    Reason.UPSTREAM_STREAM_ERROR: _upstream(Code.UNAVAILABLE, "unavailable", 503),
    Reason.UPSTREAM_ERROR: _upstream(Code.UNAVAILABLE, "unavailable", 503),
    Reason.UPSTREAM_REJECTED_REQUEST: ReasonSpec(Code.INVALID_ARGUMENT, "caller", 400),
    Reason.UPSTREAM_NOT_FOUND: ReasonSpec(Code.NOT_FOUND, "caller", 404),
    Reason.REQUEST_TOO_LARGE: ReasonSpec(Code.INVALID_ARGUMENT, "caller", 413),
    Reason.CONTEXT_LENGTH_EXCEEDED: ReasonSpec(Code.INVALID_ARGUMENT, "context_length_exceeded", 400),
    Reason.CONTENT_FILTERED: ReasonSpec(Code.INVALID_ARGUMENT, "content_filtered", 400),
    Reason.STREAM_INTERRUPTED: ReasonSpec(Code.UNAVAILABLE, "interrupted", 502),
    # The AdminService's: a gateway API key where an admin credential is needed; keys and tenants
    # it does not know, or may not change (defined in the config file: change the file).
    Reason.ADMIN_CREDENTIAL_REQUIRED: ReasonSpec(Code.PERMISSION_DENIED, "caller", 403),
    Reason.KEY_NOT_FOUND: ReasonSpec(Code.NOT_FOUND, "caller", 404),
    Reason.TENANT_NOT_FOUND: ReasonSpec(Code.NOT_FOUND, "caller", 404),
    Reason.TENANT_EXISTS: ReasonSpec(Code.ALREADY_EXISTS, "caller", 409),
    Reason.TENANT_HAS_KEYS: ReasonSpec(Code.FAILED_PRECONDITION, "caller", 400),
    Reason.DEFINED_IN_CONFIG: ReasonSpec(Code.FAILED_PRECONDITION, "caller", 400),
    Reason.ADMIN_DATABASE_MISSING: ReasonSpec(Code.FAILED_PRECONDITION, "gateway", 400),
    Reason.ADMIN_DATABASE_UNAVAILABLE: ReasonSpec(Code.UNAVAILABLE, "gateway", 503),
    Reason.INTERNAL: ReasonSpec(Code.INTERNAL, "internal", 500),
}
