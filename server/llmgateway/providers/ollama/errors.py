"""Ollama error answers and in-stream `error` lines as GatewayErrors."""

from __future__ import annotations

from typing import Any

from llmgateway.errors import GatewayError
from llmgateway.providers.errors import UpstreamErrors
from llmgateway.providers.http.answer import Answer
from llmgateway.providers.wire_json import loads_object


class OllamaErrors(UpstreamErrors):
    def from_answer(self, answer: Answer) -> GatewayError:
        body = loads_object(answer.body)
        error = body.get("error") if body else None
        message = str(error) if error is not None else answer.text[:300]
        return self.from_status(answer.status, answer.headers, message)

    def from_line(self, line: dict[str, Any]) -> GatewayError:
        """A line (or a 200 answer) that is `{"error": ...}`."""
        status = line.get("status")
        return self.stream_error(
            str(line["error"]), metadata={"upstream_status": str(status)} if isinstance(status, int) else None
        )
