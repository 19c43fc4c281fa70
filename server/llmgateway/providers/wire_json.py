"""Helpers shared by adapters for the JSON side of a wire protocol.

Request bodies and response payloads go through orjson (compact UTF-8, several times faster than
the json module on every call and every streamed event).
"""

from __future__ import annotations

from collections.abc import Mapping
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


def mapped_finish_reason(
    table: Mapping[str, chat_pb2.FinishReason.ValueType], value: object
) -> chat_pb2.FinishReason.ValueType:
    """A provider's finish/stop reason through its table: unset when absent, OTHER when unknown."""
    if value is None:
        return chat_pb2.FINISH_REASON_UNSPECIFIED
    return table.get(str(value), chat_pb2.FINISH_REASON_OTHER)


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
