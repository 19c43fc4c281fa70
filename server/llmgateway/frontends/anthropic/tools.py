"""The Messages API's `tools` and `tool_choice` as v1 Tools and a ToolChoice. Client tools only:
server tools (web search, code execution, computer use ...) run at Anthropic, which v1 cannot ask
for, so a tool with a `type` other than "custom" is refused with the parameter named."""

from __future__ import annotations

from google.protobuf import struct_pb2

from llmgateway.frontends.anthropic.cache_control import breakpoint_of
from llmgateway.frontends.anthropic.errors import invalid, not_carried
from llmgateway.frontends.anthropic.wire import (
    at,
    json_list,
    json_object,
    only_keys,
    present,
    required,
    string,
)
from llmgateway.v1 import content_pb2

_TOOL_KEYS = ("name", "description", "input_schema", "type", "cache_control")
# Options of Anthropic's tool definitions that v1's Tool cannot carry; null asks for nothing.
_TOOL_OPTIONS = (
    "strict",
    "defer_loading",
    "allowed_callers",
    "input_examples",
    "eager_input_streaming",
)
_MODES = {
    "auto": content_pb2.ToolChoice.MODE_AUTO,
    "any": content_pb2.ToolChoice.MODE_REQUIRED,
    "tool": content_pb2.ToolChoice.MODE_TOOL,
    "none": content_pb2.ToolChoice.MODE_NONE,
}


def tools(value: object) -> list[content_pb2.Tool]:
    return [_tool(at("tools", i), tool) for i, tool in enumerate(json_list("tools", value))]


def _tool(path: str, value: object) -> content_pb2.Tool:
    tool = json_object(path, value)
    if present(tool, "type") and tool["type"] != "custom":
        # A server tool: Anthropic runs it, and v1 has no way to ask a provider for one.
        name = str(tool["type"])[:64]
        raise invalid(
            at(path, "type"), f"server tool {name!r}: not supported by this gateway (v1 has no server tools)"
        )
    if tool.get("strict") is False:
        tool = {key: item for key, item in tool.items() if key != "strict"}  # the default: asks for nothing
    only_keys(path, tool, _TOOL_KEYS, _TOOL_OPTIONS)
    schema = json_object(at(path, "input_schema"), required(path, tool, "input_schema"))
    if schema.get("type") != "object":
        raise invalid(at(at(path, "input_schema"), "type"), "Input should be 'object'")
    parameters = struct_pb2.Struct()
    parameters.update(schema)
    description = tool.get("description")
    return content_pb2.Tool(
        name=string(at(path, "name"), required(path, tool, "name"), non_empty=True),
        description=string(at(path, "description"), description) if description is not None else "",
        parameters=parameters,
        cache_breakpoint=breakpoint_of(path, tool),
    )


def tool_choice(value: object) -> content_pb2.ToolChoice:
    choice = json_object("tool_choice", value)
    only_keys("tool_choice", choice, ("type", "name", "disable_parallel_tool_use"))
    kind = required("tool_choice", choice, "type")
    if kind not in _MODES:
        raise invalid("tool_choice.type", "Input tag does not match 'auto', 'any', 'tool', 'none'")
    if choice.get("disable_parallel_tool_use"):
        # v1 cannot ask a provider for at most one tool call; false (the default) asks for nothing.
        raise not_carried("tool_choice.disable_parallel_tool_use")
    if kind == "tool":
        name = string("tool_choice.name", required("tool_choice", choice, "name"), non_empty=True)
        return content_pb2.ToolChoice(mode=content_pb2.ToolChoice.MODE_TOOL, tool_name=name)
    if present(choice, "name"):
        raise invalid("tool_choice.name", f"only allowed with type 'tool', not {kind!r}")
    return content_pb2.ToolChoice(mode=_MODES[kind])
