"""OpenAI-compatible error answers and mid-stream errors as GatewayErrors."""

from __future__ import annotations

from typing import Any

from llmgateway.errors import GatewayError
from llmgateway.providers.errors import UpstreamErrors
from llmgateway.providers.http.answer import Answer
from llmgateway.providers.wire_json import loads_object

# vLLM (and older OpenAI) say a prompt is too long only in the message, with code 400 / BadRequestError.
_CONTEXT_MESSAGE = "maximum context length"


class OpenAIErrors(UpstreamErrors):
    def from_answer(self, answer: Answer) -> GatewayError:
        body = loads_object(answer.body)
        error = body.get("error") if body else None
        if body and body.get("object") == "error":
            # Older vLLM answers with the error fields at the top level.
            error = body
        if isinstance(error, dict):
            message = str(error.get("message") or "")
            code = str(error.get("code") or error.get("type") or "")
        else:
            message, code = answer.text[:300], ""
        if answer.status == 400 and _CONTEXT_MESSAGE in message.lower():
            code = "context_length_exceeded"
        return self.from_status(answer.status, answer.headers, message, code)

    def from_chunk(self, error: Any) -> GatewayError:
        """An `error` member in a stream chunk."""
        return self.stream_error(str(error.get("message") if isinstance(error, dict) else error))
