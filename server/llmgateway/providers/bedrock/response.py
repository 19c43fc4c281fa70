"""A Converse answer (and the pieces streams share with it) as v1."""

from __future__ import annotations

import json
from typing import Any

from llmgateway.providers.errors import UpstreamErrors
from llmgateway.providers.wire_json import MESSAGES_STOP_REASONS, FinishReasons, json_int, tool_call_id, usage
from llmgateway.reasoning.origin import BEDROCK
from llmgateway.v1 import chat_pb2, content_pb2

STOP_REASONS = FinishReasons(
    {
        **MESSAGES_STOP_REASONS,
        "guardrail_intervened": chat_pb2.FINISH_REASON_CONTENT_FILTER,
        "content_filtered": chat_pb2.FINISH_REASON_CONTENT_FILTER,
    }
)


def wire_usage(wire: object) -> chat_pb2.Usage:
    if not isinstance(wire, dict):
        return chat_pb2.Usage()
    cached = json_int(wire.get("cacheReadInputTokens"))
    written = json_int(wire.get("cacheWriteInputTokens"))
    # Bedrock's inputTokens leaves out tokens read from or written to the prompt cache; v1's input
    # counts every prompt token.
    return usage(
        json_int(wire.get("inputTokens")) + cached + written,
        json_int(wire.get("outputTokens")),
        cached=cached,
        cache_write=written,
        cache_write_1h=_one_hour_writes(wire.get("cacheDetails"), written),
    )


def _one_hour_writes(details: object, written: int) -> int | None:
    """The writes `cacheDetails` puts at the 1-hour lifetime ([{ttl: "5m" | "1h", inputTokens}],
    empty or absent when nothing was written); None when there were writes it does not break down."""
    if not isinstance(details, list) or not details:
        return 0 if not written else None
    return sum(
        json_int(detail.get("inputTokens"))
        for detail in details
        if isinstance(detail, dict) and detail.get("ttl") == "1h"
    )


def tool_use_id(wire_id: object) -> str:
    return tool_call_id(wire_id, prefix="tooluse_", digits=22)


def _part(errors: UpstreamErrors, block: dict[str, Any]) -> content_pb2.Part | None:
    if isinstance(block.get("text"), str):
        return content_pb2.Part(text=block["text"])
    tool_use = block.get("toolUse")
    if isinstance(tool_use, dict):
        if not isinstance(tool_use.get("name"), str):
            raise errors.malformed("toolUse without a name")
        return content_pb2.Part(
            tool_call=content_pb2.ToolCall(
                id=tool_use_id(tool_use.get("toolUseId")),
                name=tool_use["name"],
                arguments_json=json.dumps(tool_use.get("input") or {}, ensure_ascii=False),
            )
        )
    reasoning = block.get("reasoningContent")
    if isinstance(reasoning, dict) and isinstance(reasoning.get("reasoningText"), dict):
        text = reasoning["reasoningText"]
        return content_pb2.Part(
            reasoning=content_pb2.Reasoning(
                text=str(text.get("text") or ""), signature=str(text.get("signature") or ""), origin=BEDROCK
            )
        )
    if isinstance(reasoning, dict) and isinstance(reasoning.get("redactedContent"), str):
        # A blob, base64 in Converse's JSON: kept as that text, to go back as it came.
        return content_pb2.Part(
            reasoning=content_pb2.Reasoning(redacted_data=reasoning["redactedContent"], origin=BEDROCK)
        )
    # Other blocks (citations, …) have no v1 form.
    return None


def chat_response(
    errors: UpstreamErrors, payload: dict[str, Any], upstream_model: str
) -> chat_pb2.ChatResponse:
    output = payload.get("output")
    message = output.get("message") if isinstance(output, dict) else None
    if not payload or not isinstance(message, dict) or not isinstance(message.get("content"), list):
        raise errors.malformed("no output.message.content in the Converse response")
    parts: list[content_pb2.Part] = []
    for block in message["content"]:
        if not isinstance(block, dict):
            raise errors.malformed("a content block that is not an object")
        part = _part(errors, block)
        if part is not None:
            parts.append(part)
    return chat_pb2.ChatResponse(
        model=upstream_model,
        message=content_pb2.Message(role=content_pb2.ROLE_ASSISTANT, parts=parts),
        finish_reason=STOP_REASONS(payload.get("stopReason")),
        usage=wire_usage(payload.get("usage")),
    )
