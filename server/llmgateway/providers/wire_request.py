"""Pieces of a request body that several protocols build alike: sampling settings under their wire
names, tool definitions, tool-call arguments as an object, tool results as text, merged turns."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from llmgateway.errors import FieldViolation, invalid_argument, unsupported_capability
from llmgateway.providers.wire_json import struct_to_dict
from llmgateway.v1 import chat_pb2, content_pb2

# The GenerationConfig fields that are sampling settings, sent as they are under some wire name.
GenerationField = Literal[
    "max_output_tokens", "temperature", "top_p", "top_k", "seed", "presence_penalty", "frequency_penalty"
]
# GenerationConfig's floats go out rounded: a float field holds 0.7 as 0.699999988079071.
_FLOAT_FIELDS = frozenset({"temperature", "top_p", "presence_penalty", "frequency_penalty"})


def generation_fields(
    config: chat_pb2.GenerationConfig, wire_names: Mapping[GenerationField, str]
) -> dict[str, Any]:
    """Each set field of `config` named in `wire_names`, under its wire name."""
    wire: dict[str, Any] = {}
    for field, wire_name in wire_names.items():
        if config.HasField(field):
            value = getattr(config, field)
            wire[wire_name] = round(value, 6) if field in _FLOAT_FIELDS else value
    return wire


def openai_sampling(config: chat_pb2.GenerationConfig, max_tokens_field: str) -> dict[str, Any]:
    """The sampling settings under OpenAI's names (Ollama's options take the same), the output-token
    cap under `max_tokens_field`."""
    wire = generation_fields(
        config,
        {
            "max_output_tokens": max_tokens_field,
            "temperature": "temperature",
            "top_p": "top_p",
            "top_k": "top_k",
        },
    )
    if config.stop_sequences:
        wire["stop"] = list(config.stop_sequences)
    wire.update(
        generation_fields(
            config,
            {
                "seed": "seed",
                "presence_penalty": "presence_penalty",
                "frequency_penalty": "frequency_penalty",
            },
        )
    )
    return wire


def refuse_fields(
    provider: str, config: chat_pb2.GenerationConfig, fields: Iterable[GenerationField]
) -> None:
    """UNSUPPORTED_CAPABILITY for the first of `fields` that is set: it cannot be sent, and dropping
    it would change the answer unseen."""
    for field in fields:
        if config.HasField(field):
            raise unsupported_capability(provider, field)


def _parameters_schema(tool: content_pb2.Tool) -> dict[str, Any]:
    """The tool's JSON Schema for its arguments; an object without properties when it has none."""
    if tool.HasField("parameters"):
        return struct_to_dict(tool.parameters)
    return {"type": "object", "properties": {}}


def tool_definition(
    tool: content_pb2.Tool, schema_field: str, *, wrapped_in: str | None = None
) -> dict[str, Any]:
    """A tool definition: its name, its description when it has one, and its arguments' schema
    under `schema_field` (inside an object's `wrapped_in` member, as Converse's `{"json": ...}`)."""
    schema = _parameters_schema(tool)
    return {
        "name": tool.name,
        **({"description": tool.description} if tool.description else {}),
        schema_field: {wrapped_in: schema} if wrapped_in else schema,
    }


def function_tools(tools: Iterable[content_pb2.Tool]) -> list[dict[str, Any]]:
    """Tools as OpenAI's `{"type": "function", "function": {...}}`, which Ollama takes too."""
    return [{"type": "function", "function": tool_definition(tool, "parameters")} for tool in tools]


def arguments_object(path: str, call: content_pb2.ToolCall, rule: str) -> dict[str, Any]:
    """A tool call's arguments as the JSON object a protocol keeps them as; INVALID_ARGUMENT on
    `{path}.tool_call.arguments_json`, saying `rule`, when they are not one."""
    try:
        value = json.loads(call.arguments_json or "{}")
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise invalid_argument([FieldViolation(f"{path}.tool_call.arguments_json", rule)])
    return value


def tool_result_text(provider: str, result: content_pb2.ToolResult) -> str:
    """A tool result's text; UNSUPPORTED_CAPABILITY for any other part, which the protocol has no
    place for."""
    texts = []
    for part in result.content:
        if part.WhichOneof("kind") != "text":
            raise unsupported_capability(provider, "non-text tool results")
        texts.append(part.text)
    return "".join(texts)


def flagged_tool_result_text(provider: str, result: content_pb2.ToolResult) -> str:
    """The text of a tool result for a protocol without an error flag on tool messages: a failed
    tool's output says so in the content the model reads."""
    text = tool_result_text(provider, result)
    return f"Error: {text}" if result.is_error else text


def append_turn(turns: list[dict[str, Any]], role: str, key: str, items: list[dict[str, Any]]) -> None:
    """Add `items` as a turn of `role`, joined to the last turn when that has the same role: these
    protocols want turns to alternate, with a turn's tool results together."""
    if turns and turns[-1]["role"] == role:
        turns[-1][key].extend(items)
    else:
        turns.append({"role": role, key: items})
