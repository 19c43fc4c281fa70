"""Anthropic's token counting: `POST /v1/messages/count_tokens` takes a Messages request without
`max_tokens` (and without what only shapes the output) and answers `{input_tokens}`."""

from __future__ import annotations

from typing import Any

from llmgateway.providers.errors import UpstreamErrors
from llmgateway.v1 import chat_pb2

COUNT_PATH = "/v1/messages/count_tokens"
# What the counting endpoint takes of a Messages body: the prompt and what the API adds to it
# (tools, tool choice, thinking, the output format); sampling, stop sequences, max_tokens, stream and
# metadata only shape the output, and the endpoint refuses them.
_COUNTED_FIELDS = ("model", "messages", "system", "tools", "tool_choice", "thinking", "output_config")


def count_body(messages_body: dict[str, Any]) -> dict[str, Any]:
    """The count_tokens body for a Messages body."""
    return {name: messages_body[name] for name in _COUNTED_FIELDS if name in messages_body}


def count_response(
    errors: UpstreamErrors, payload: dict[str, Any], model: str
) -> chat_pb2.CountTokensResponse:
    tokens = payload.get("input_tokens")
    if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 0:
        raise errors.malformed("a token count without input_tokens")
    return chat_pb2.CountTokensResponse(input_tokens=tokens, model=model, counted_by="provider")
