"""A v1 answer as the Messages API's `Message`: its id, content blocks, stop reason and usage."""

from __future__ import annotations

from typing import Any

import orjson

from llmgateway.frontends.anthropic.errors import unsayable
from llmgateway.reasoning.shown import shown
from llmgateway.v1 import chat_pb2, content_pb2

_STOP_REASONS = {
    chat_pb2.FINISH_REASON_STOP: "end_turn",
    chat_pb2.FINISH_REASON_LENGTH: "max_tokens",
    chat_pb2.FINISH_REASON_TOOL_CALLS: "tool_use",
    # The Messages API has one stop reason for both: its classifiers stopping the answer.
    chat_pb2.FINISH_REASON_CONTENT_FILTER: "refusal",
    chat_pb2.FINISH_REASON_REFUSAL: "refusal",
}

Block = dict[str, Any]


def message_id(request_id: str) -> str:
    """The Message's id: the call's request id, in Anthropic's `msg_` form."""
    return f"msg_{request_id}"


def stop_reason(finish: chat_pb2.FinishReason.ValueType) -> str:
    """Anthropic's stop reason; v1 does not say whether a STOP was a stop sequence (end_turn then)
    and OTHER has no counterpart, so both are end_turn."""
    return _STOP_REASONS.get(finish, "end_turn")


def usage(value: chat_pb2.Usage, *, breakdown: bool = True) -> Block:
    """Anthropic counts input tokens without those read from or written to the prompt cache; v1
    counts them in. `breakdown`: with `cache_creation`, the writes by lifetime, as a Message's usage
    has it when the provider said (message_delta's usage never has it)."""
    cached, written = value.cached_input_tokens, value.cache_write_input_tokens
    block: Block = {
        "input_tokens": max(value.input_tokens - cached - written, 0),
        "output_tokens": value.output_tokens,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": cached,
    }
    if breakdown and value.HasField("cache_write_1h_input_tokens"):
        one_hour = min(value.cache_write_1h_input_tokens, written)
        block["cache_creation"] = {
            "ephemeral_5m_input_tokens": written - one_hour,
            "ephemeral_1h_input_tokens": one_hour,
        }
    return block


def tool_input(call_id: str, arguments_json: str) -> dict[str, Any]:
    """A tool call's arguments as the object `tool_use.input` is."""
    try:
        value = orjson.loads(arguments_json or "{}")
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise unsayable(f"the arguments of tool call {call_id!r} are not a JSON object")
    return value


def _block(part: content_pb2.Part) -> Block:
    kind = part.WhichOneof("kind")
    if kind == "text":
        return {"type": "text", "text": part.text}
    if kind == "tool_call":
        call = part.tool_call
        return {
            "type": "tool_use",
            "id": call.id,
            "name": call.name,
            "input": tool_input(call.id, call.arguments_json),
        }
    if kind == "refusal":
        # The Messages API has no refusal block: a refusal is text, and stop_reason says "refusal".
        return {"type": "text", "text": part.refusal}
    if kind == "reasoning":
        reasoning = part.reasoning
        if reasoning.redacted_data:
            return {"type": "redacted_thinking", "data": shown(reasoning.origin, reasoning.redacted_data)}
        return {
            "type": "thinking",
            "thinking": reasoning.text,
            "signature": shown(reasoning.origin, reasoning.signature),
        }
    raise unsayable(f"a {kind} part")


def message(response: chat_pb2.ChatResponse) -> Block:
    """The whole Message for a unary call."""
    return {
        "id": message_id(response.id),
        "type": "message",
        "role": "assistant",
        "model": response.model,
        "content": [_block(part) for part in response.message.parts],
        "stop_reason": stop_reason(response.finish_reason),
        "stop_sequence": None,
        "usage": usage(response.usage),
    }
