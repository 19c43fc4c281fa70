"""Bedrock error answers and event-stream exception frames as GatewayErrors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from botocore.eventstream import EventStreamMessage

from llmgateway.errors import GatewayError
from llmgateway.providers.errors import UpstreamErrors
from llmgateway.providers.http.answer import Answer
from llmgateway.providers.wire_json import loads_object
from llmgateway.reasons import Reason

# Error types that say "the service or model is not able to answer now" whatever their status:
# ModelNotReadyException comes as a 429 but is not a rate limit, ModelErrorException as a 424.
_UNAVAILABLE_TYPES = frozenset({"ModelNotReadyException", "ModelErrorException"})


def frame_headers(frame: EventStreamMessage) -> Mapping[str, object]:
    # botocore-stubs declare `headers` as int; botocore fills it with the decoded header dict.
    return cast(Mapping[str, object], frame.headers)


def _error_type(headers: Mapping[str, str], body: dict[str, Any] | None) -> str:
    """`x-amzn-errortype` is "Name:namespace-url"; some front ends only put "ns#Name" in `__type`."""
    raw = headers.get("x-amzn-errortype") or (str(body.get("__type") or "") if body else "")
    return raw.split(":", 1)[0].rsplit("#", 1)[-1]


def _is_context_overflow(message: str) -> bool:
    lowered = message.lower()
    return "too long" in lowered or "context window" in lowered or "too many input tokens" in lowered


class BedrockErrors(UpstreamErrors):
    def from_answer(self, answer: Answer) -> GatewayError:
        body = loads_object(answer.body)
        error_type = _error_type(answer.headers, body)
        message = str((body.get("message") or body.get("Message") or "") if body else answer.text[:300])
        status = answer.status
        if error_type in _UNAVAILABLE_TYPES:
            return GatewayError(
                Reason.UPSTREAM_UNAVAILABLE,
                f"provider {self.provider!r} failed ({error_type}, HTTP {status}): {self.redact(message)}",
                metadata={
                    "provider": self.provider,
                    "upstream_status": str(status),
                    "upstream_code": error_type,
                },
                retry_after=1.0 if error_type == "ModelNotReadyException" else None,
            )
        code = error_type
        if error_type == "ValidationException" and _is_context_overflow(message):
            code = "context_length_exceeded"
        return self.from_status(status, answer.headers, message, code)

    def from_frame(self, frame: EventStreamMessage) -> GatewayError:
        """An `exception` or `error` frame mid-stream."""
        headers = frame_headers(frame)
        if headers.get(":message-type") == "error":
            kind = str(headers.get(":error-code") or "error")
            text = str(headers.get(":error-message") or "")
        else:
            kind = str(headers.get(":exception-type") or "exception")
            payload = loads_object(frame.payload)
            text = str((payload.get("message") or payload.get("Message") or "") if payload else "")
        if kind == "throttlingException":
            return GatewayError(
                Reason.UPSTREAM_RATE_LIMITED,
                f"provider {self.provider!r} is rate limiting ({kind}): {self.redact(text)}",
                metadata={"provider": self.provider, "upstream_code": kind},
                retry_after=1.0,
            )
        return self.stream_error(text, kind=kind, metadata={"upstream_code": kind})
