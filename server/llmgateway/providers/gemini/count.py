"""Gemini's token counting: `models/{model}:countTokens` with the whole `generateContentRequest`
(so the system instruction, tools and generation config count too) answers `{totalTokens}`."""

from __future__ import annotations

from typing import Any

from llmgateway.providers.errors import UpstreamErrors
from llmgateway.v1 import chat_pb2


def count_body(model: str, generate_body: dict[str, Any]) -> dict[str, Any]:
    """The countTokens body for a generateContent body; inside it the model must be named."""
    return {"generateContentRequest": {"model": f"models/{model}", **generate_body}}


def count_response(
    errors: UpstreamErrors, payload: dict[str, Any], model: str
) -> chat_pb2.CountTokensResponse:
    # proto3 JSON leaves a zero out: an empty prompt counts as {} (no totalTokens).
    tokens = payload.get("totalTokens", 0)
    if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 0:
        raise errors.malformed("a token count whose totalTokens is not a count")
    return chat_pb2.CountTokensResponse(input_tokens=tokens, model=model, counted_by="provider")
