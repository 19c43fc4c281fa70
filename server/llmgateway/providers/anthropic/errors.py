"""Anthropic error answers and `error` events as GatewayErrors."""

from __future__ import annotations

from typing import Any

from llmgateway.errors import GatewayError
from llmgateway.providers.errors import UpstreamErrors
from llmgateway.providers.http.answer import Answer
from llmgateway.providers.wire_json import loads_object

# Anthropic reports an over-long prompt as a plain invalid_request_error; its message tells it apart.
_CONTEXT_MESSAGES = ("prompt is too long", "context window", "context length")


class AnthropicErrors(UpstreamErrors):
    def from_answer(self, answer: Answer) -> GatewayError:
        body = loads_object(answer.body)
        error = body.get("error") if body else None
        if isinstance(error, dict):
            message = str(error.get("message") or "")
            code = str(error.get("type") or "")
        else:
            message, code = answer.text[:300], ""
        if answer.status == 400 and any(text in message.lower() for text in _CONTEXT_MESSAGES):
            code = "context_length_exceeded"
        return self.from_status(answer.status, answer.headers, message, code)

    def from_event(self, data: dict[str, Any]) -> GatewayError:
        """An `error` event (overloaded_error and the like) mid-stream."""
        error = data.get("error")
        error_type = str(error.get("type") or "") if isinstance(error, dict) else ""
        message = str(error.get("message") or "") if isinstance(error, dict) else str(error)
        return self.stream_error(
            message,
            kind=error_type or "unknown",
            metadata={"upstream_code": error_type} if error_type else None,
        )
