"""Bedrock's token counting: `POST /model/{modelId}/count-tokens` with `{input: {converse: {...}}}`
(the Converse request's messages, system, toolConfig and additionalModelRequestFields) answers
`{inputTokens}`, the count Converse would bill."""

from __future__ import annotations

from typing import Any

from llmgateway.providers.errors import UpstreamErrors
from llmgateway.v1 import chat_pb2

# What ConverseTokensRequest takes of a Converse body; inferenceConfig and outputConfig shape only
# the output, and the API refuses them here.
_COUNTED_FIELDS = ("messages", "system", "toolConfig", "additionalModelRequestFields")


def count_body(converse_body: dict[str, Any]) -> dict[str, Any]:
    return {
        "input": {
            "converse": {name: converse_body[name] for name in _COUNTED_FIELDS if name in converse_body}
        }
    }


def count_response(
    errors: UpstreamErrors, payload: dict[str, Any], model: str
) -> chat_pb2.CountTokensResponse:
    tokens = payload.get("inputTokens")
    if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 0:
        raise errors.malformed("a token count without inputTokens")
    return chat_pb2.CountTokensResponse(input_tokens=tokens, model=model, counted_by="provider")
