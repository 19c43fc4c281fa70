"""An Anthropic message (and the pieces streams share with it) as v1."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from llmgateway.providers.errors import UpstreamErrors
from llmgateway.providers.wire_json import MESSAGES_STOP_REASONS, FinishReasons, json_int, loads_object, usage
from llmgateway.reasoning.origin import ANTHROPIC
from llmgateway.v1 import chat_pb2, content_pb2

STOP_REASONS = FinishReasons(
    {
        **MESSAGES_STOP_REASONS,
        "refusal": chat_pb2.FINISH_REASON_REFUSAL,
        "pause_turn": chat_pb2.FINISH_REASON_OTHER,
    }
)


@dataclass
class UsageTotals:
    """Usage as Anthropic reports it in pieces; v1's input count includes the cached tokens."""

    uncached_input: int = 0
    cache_creation: int = 0
    cache_read: int = 0
    output: int = 0
    cache_creation_1h: int | None = None  # None: the API did not split the writes by lifetime

    def update(self, wire: object) -> None:
        # Each figure is cumulative, and message_delta repeats only some of them (never the
        # `cache_creation` breakdown: message_start's stands).
        if not isinstance(wire, dict):
            return
        self.uncached_input = json_int(wire.get("input_tokens")) or self.uncached_input
        self.cache_creation = json_int(wire.get("cache_creation_input_tokens")) or self.cache_creation
        self.cache_read = json_int(wire.get("cache_read_input_tokens")) or self.cache_read
        self.output = json_int(wire.get("output_tokens")) or self.output
        breakdown = wire.get("cache_creation")
        if isinstance(breakdown, dict):
            self.cache_creation_1h = json_int(breakdown.get("ephemeral_1h_input_tokens"))

    def proto(self) -> chat_pb2.Usage:
        total_input = self.uncached_input + self.cache_creation + self.cache_read
        return usage(
            total_input,
            self.output,
            cached=self.cache_read,
            cache_write=self.cache_creation,
            cache_write_1h=self.cache_creation_1h,
        )


def _parts(errors: UpstreamErrors, blocks: list[Any]) -> list[content_pb2.Part]:
    parts: list[content_pb2.Part] = []
    for block in blocks:
        if not isinstance(block, dict):
            raise errors.malformed("a content block that is not an object")
        kind = block.get("type")
        if kind == "text":
            parts.append(content_pb2.Part(text=str(block.get("text") or "")))
        elif kind == "thinking":
            reasoning = content_pb2.Reasoning(
                text=str(block.get("thinking") or ""),
                signature=str(block.get("signature") or ""),
                origin=ANTHROPIC,
            )
            parts.append(content_pb2.Part(reasoning=reasoning))
        elif kind == "redacted_thinking":
            if not isinstance(block.get("data"), str):
                raise errors.malformed("a redacted_thinking block without data")
            reasoning = content_pb2.Reasoning(redacted_data=block["data"], origin=ANTHROPIC)
            parts.append(content_pb2.Part(reasoning=reasoning))
        elif kind == "tool_use":
            if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
                raise errors.malformed("a tool_use block without id or name")
            call = content_pb2.ToolCall(
                id=block["id"], name=block["name"], arguments_json=json.dumps(block.get("input") or {})
            )
            parts.append(content_pb2.Part(tool_call=call))
        # Other block types (server tool blocks) carry nothing v1 can express.
    return parts


def chat_response(
    errors: UpstreamErrors, payload: dict[str, Any], upstream_model: str
) -> chat_pb2.ChatResponse:
    if payload.get("type") != "message" or not isinstance(payload.get("content"), list):
        raise errors.malformed("not a message object with content")
    totals = UsageTotals()
    totals.update(payload.get("usage"))
    return chat_pb2.ChatResponse(
        model=str(payload.get("model") or upstream_model),
        message=content_pb2.Message(
            role=content_pb2.ROLE_ASSISTANT, parts=_parts(errors, payload["content"])
        ),
        finish_reason=STOP_REASONS(payload.get("stop_reason")),
        usage=totals.proto(),
    )


def model_page(errors: UpstreamErrors, content: bytes) -> tuple[list[str], str | None]:
    """The names on one page of GET /v1/models, and the id to ask for the next page after (None on
    the last)."""
    payload = loads_object(content)
    data = payload.get("data") if payload else None
    if not payload or not isinstance(data, list):
        raise errors.malformed("model list without data")
    names = [str(item["id"]) for item in data if isinstance(item, dict) and "id" in item]
    last_id = payload.get("last_id")
    if payload.get("has_more") is not True or not isinstance(last_id, str):
        return names, None
    return names, last_id
