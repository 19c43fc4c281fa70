"""Helpers shared by adapters for the JSON side of a wire protocol, and for what every protocol's
answer carries (finish reasons, usage, tool-call ids).

Request bodies and response payloads go through orjson (compact UTF-8, several times faster than
the json module on every call and every streamed event).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from google.protobuf import json_format, struct_pb2

from llmgateway.v1 import chat_pb2


def _integral_floats_to_int(value: Any) -> Any:
    # google.protobuf.Struct stores every number as a double; JSON Schemas want `"maxItems": 3`,
    # and some providers reject `3.0` where an integer keyword is expected.
    if isinstance(value, dict):
        return {k: _integral_floats_to_int(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral_floats_to_int(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def struct_to_dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    """A protobuf Struct as plain JSON data, integers restored."""
    result: dict[str, Any] = _integral_floats_to_int(json_format.MessageToDict(struct))
    return result


def json_int(value: object) -> int:
    """An integer field of provider JSON; 0 when absent or not an integer (a boolean is not one)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


JSON_CONTENT = {"content-type": "application/json"}


def dumps(value: Any) -> bytes:
    """A request body: compact JSON in UTF-8 (non-ASCII text as is, as providers expect)."""
    return orjson.dumps(value)


def loads_object(text: str | bytes) -> dict[str, Any] | None:
    """Parse a JSON object; None when the text is not JSON or not an object."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


# The stop reasons of Anthropic's Messages API, which Bedrock's Converse took over for every model.
MESSAGES_STOP_REASONS: Mapping[str, chat_pb2.FinishReason.ValueType] = {
    "end_turn": chat_pb2.FINISH_REASON_STOP,
    "stop_sequence": chat_pb2.FINISH_REASON_STOP,
    "max_tokens": chat_pb2.FINISH_REASON_LENGTH,
    "model_context_window_exceeded": chat_pb2.FINISH_REASON_LENGTH,
    "tool_use": chat_pb2.FINISH_REASON_TOOL_CALLS,
}


@dataclass(frozen=True)
class FinishReasons:
    """A provider's finish/stop reasons as v1's: unset when absent, OTHER when unknown. `turn_end`
    names the reasons that only say the model ended its turn, which is TOOL_CALLS when it called
    tools (Gemini and Ollama say STOP then)."""

    table: Mapping[str, chat_pb2.FinishReason.ValueType]
    turn_end: frozenset[str] = frozenset()

    def __call__(self, value: object, called_tools: bool = False) -> chat_pb2.FinishReason.ValueType:
        if value is None:
            return chat_pb2.FINISH_REASON_UNSPECIFIED
        if called_tools and str(value) in self.turn_end:
            return chat_pb2.FINISH_REASON_TOOL_CALLS
        return self.table.get(str(value), chat_pb2.FINISH_REASON_OTHER)


def usage(
    input_tokens: int,
    output_tokens: int,
    *,
    cached: int = 0,
    cache_write: int = 0,
    cache_write_1h: int | None = None,
    reasoning: int = 0,
    total: int = 0,
) -> chat_pb2.Usage:
    """A Usage from counts already in v1's meaning (input counts tokens read from and written to the
    prompt cache, output reasoning ones); `total` is the provider's own where it sends one, else
    input plus output. `cache_write_1h`: of the writes, those with the 1-hour lifetime, when the
    provider says (None: it does not)."""
    return chat_pb2.Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_input_tokens=cached,
        cache_write_input_tokens=cache_write,
        cache_write_1h_input_tokens=cache_write_1h,
        reasoning_tokens=reasoning,
        total_tokens=total or input_tokens + output_tokens,
    )


def tool_call_id(wire_id: object, prefix: str = "call_", digits: int = 24) -> str:
    """The provider's id for a tool call, or a made-up one: callers need an id to send the result
    back."""
    if isinstance(wire_id, str) and wire_id:
        return wire_id
    return f"{prefix}{uuid.uuid4().hex[:digits]}"
