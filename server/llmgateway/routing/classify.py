"""What an upstream failure means for routing: its class (for fallbacks), whether it counts
against the deployment's breaker, and whether trying again may help — all read from the one table
of reasons (llmgateway/reasons.py)."""

from __future__ import annotations

from typing import get_args

from llmgateway.config import ErrorClass
from llmgateway.errors import GatewayError
from llmgateway.reasons import REASONS, Reason
from llmgateway.v1 import chat_pb2

_FALLBACK_CLASSES: frozenset[str] = frozenset(get_args(ErrorClass))


def error_class(error: GatewayError) -> ErrorClass | None:
    """The fallback class of an error; None for errors no other deployment or model can mend."""
    reason_class = REASONS[error.reason].reason_class
    return reason_class if reason_class in _FALLBACK_CLASSES else None  # type: ignore[return-value]


# A model's answers that a model's `fallback_on` may treat as failed attempts (routing/attempts.py).
_DECLINING_FINISHES: dict[chat_pb2.FinishReason.ValueType, ErrorClass] = {
    chat_pb2.FINISH_REASON_REFUSAL: "refused",
    chat_pb2.FINISH_REASON_CONTENT_FILTER: "content_filtered",
}


def declining_class(finish: chat_pb2.FinishReason.ValueType) -> ErrorClass | None:
    """The fallback class of an answer that declined (a refusal or a content-filter finish); None
    for any other finish."""
    return _DECLINING_FINISHES.get(finish)


def counts_against_breaker(error: GatewayError) -> bool:
    return REASONS[error.reason].breaker


def retryable(error: GatewayError) -> bool:
    return REASONS[error.reason].retry


def tries_next_deployment(error: GatewayError) -> bool:
    """Whether another deployment of the same model may succeed where this one failed. A context
    window or content filter is the model's, so those go straight to the fallback models; a
    capability one deployment lacks may be another's."""
    return error.reason == Reason.UNSUPPORTED_CAPABILITY or error_class(error) in (
        "unavailable",
        "rate_limited",
        "timeout",
    )
