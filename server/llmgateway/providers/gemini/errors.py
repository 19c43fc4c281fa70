"""Gemini error answers, stream errors and blocked prompts as GatewayErrors.

An invalid key is a 400 with ErrorInfo reason API_KEY_INVALID: it is mapped as an auth failure.
Rate limits carry their wait as RetryInfo `retryDelay` in the error body, not as a header.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from llmgateway.errors import GatewayError
from llmgateway.providers.errors import UpstreamErrors
from llmgateway.providers.http.answer import Answer
from llmgateway.providers.wire_json import loads_object


def _details(error: dict[str, Any]) -> list[Any]:
    details = error.get("details")
    return details if isinstance(details, list) else []


def _retry_delay(details: list[Any]) -> float | None:
    for detail in details:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            delay = detail.get("retryDelay")
            if isinstance(delay, str) and delay.endswith("s"):
                try:
                    return max(float(delay[:-1]), 0.0)
                except ValueError:
                    return None
    return None


def _error_reasons(details: list[Any]) -> set[str]:
    return {str(d.get("reason")) for d in details if isinstance(d, dict) and d.get("reason")}


class GeminiErrors(UpstreamErrors):
    def from_answer(self, answer: Answer) -> GatewayError:
        body = loads_object(answer.body)
        error = body.get("error") if body else None
        headers: dict[str, str] = {k.lower(): v for k, v in answer.headers.items()}
        if not isinstance(error, dict):
            return self.from_status(answer.status, headers, answer.text[:300])
        message = str(error.get("message") or "")
        status = str(error.get("status") or "")
        details = _details(error)
        delay = _retry_delay(details)
        if delay is not None and "retry-after" not in headers:
            headers["retry-after"] = f"{delay:g}"
        if "API_KEY_INVALID" in _error_reasons(details):
            refused = self.from_status(401, headers, message, status)
            return dataclasses.replace(
                refused,
                message=f"provider {self.provider!r} refused the gateway's credentials (API_KEY_INVALID)",
                metadata={**refused.metadata, "upstream_status": str(answer.status)},
            )
        code = status
        if "exceeds the maximum number of tokens" in message:
            code = "context_length_exceeded"
        return self.from_status(answer.status, headers, message, code)

    def from_event(self, error: object) -> GatewayError:
        """An `error` member in a stream event."""
        if not isinstance(error, dict):
            error = {"message": str(error)}
        return self.stream_error(
            str(error.get("message") or ""),
            metadata={"upstream_code": str(error["status"])} if error.get("status") else None,
            retry_after=_retry_delay(_details(error)),
        )

    def check_blocked(self, payload: Mapping[str, Any]) -> None:
        """A prompt Gemini blocked (`promptFeedback.blockReason`, no candidates) fails the call as a
        provider's 400 for a filtered prompt does."""
        feedback = payload.get("promptFeedback")
        if isinstance(feedback, dict) and feedback.get("blockReason") and not payload.get("candidates"):
            reason = str(feedback["blockReason"])
            raise self.from_status(400, {}, f"the prompt was blocked ({reason})", "content_filter")
