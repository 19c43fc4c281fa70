"""OpenAI `messages` → v1 Messages. Every role Chat Completions has today maps to a v1 role; every
content part either maps to a v1 part or is refused naming it (audio, files, image detail levels
v1 cannot carry). Consecutive `tool` messages become one v1 ROLE_TOOL message (v1's shape for the
results of one assistant turn), so `origins` keeps, for each v1 message, the index of the OpenAI
message it came from: errors found later (by the core) still name the caller's message."""

from __future__ import annotations

from typing import Any

from llmgateway.frontends.openai.params import (
    JsonObject,
    a_list,
    a_string,
    an_object,
    invalid_value,
    missing,
    not_supported,
    only_known,
)
from llmgateway.frontends.openai.reasoning import with_reasoning
from llmgateway.v1 import content_pb2

_ROLES = {
    "system": content_pb2.ROLE_SYSTEM,
    "developer": content_pb2.ROLE_DEVELOPER,
    "user": content_pb2.ROLE_USER,
    "assistant": content_pb2.ROLE_ASSISTANT,
    "tool": content_pb2.ROLE_TOOL,
}
_KNOWN = {
    "system": frozenset({"role", "content", "name"}),
    "developer": frozenset({"role", "content", "name"}),
    "user": frozenset({"role", "content", "name"}),
    # What the SDKs echo back when a caller appends the previous response's message as it is
    # (`parsed` is the Python SDK's own reading of `content`: nothing the model needs again).
    "assistant": frozenset(
        {
            "role",
            "content",
            "name",
            "tool_calls",
            "refusal",
            "annotations",
            "audio",
            "function_call",
            "parsed",
            "reasoning_content",
            "thinking_blocks",
        }
    ),
    "tool": frozenset({"role", "content", "tool_call_id"}),
}
_TEXT_PART = frozenset({"type", "text"})
_REFUSAL_PART = frozenset({"type", "refusal"})
_IMAGE_PART = frozenset({"type", "image_url"})
_IMAGE_URL = frozenset({"url", "detail"})
# `index`: the SDKs' stream accumulators keep each call's stream index (its place in the list).
_TOOL_CALL = frozenset({"id", "type", "function", "index"})
# `parsed_arguments`: the Python SDK's reading of `arguments`, echoed back with its message.
_FUNCTION_CALL = frozenset({"name", "arguments", "parsed_arguments"})


def _image(path: str, part: JsonObject) -> content_pb2.Part:
    only_known(path, part, _IMAGE_PART)
    image = an_object(f"{path}.image_url", part.get("image_url"))
    only_known(f"{path}.image_url", image, _IMAGE_URL)
    detail = image.get("detail")
    if detail not in (None, "auto"):
        # v1 Media has no detail level; the provider's default ("auto") is all it can ask for.
        raise not_supported(f"{path}.image_url.detail", "only 'auto' (v1 media carries no detail level)")
    url = a_string(f"{path}.image_url.url", image.get("url"))
    # A data: URI stays a URI: every adapter decodes it (providers/media.py), and the core's
    # validation refuses anything but https:// and data: with the path of the part.
    return content_pb2.Part(media=content_pb2.Media(uri=url))


def _parts(
    where: str, content: object, *, images: bool = False, refusals: bool = False
) -> list[content_pb2.Part]:
    """A message's content: a string, or an array of parts: text, images where `images`, and an
    assistant's earlier refusals where `refusals`."""
    if isinstance(content, str):
        return [content_pb2.Part(text=content)]
    parts: list[content_pb2.Part] = []
    for index, item in enumerate(a_list(where, content)):
        path = f"{where}[{index}]"
        part = an_object(path, item)
        kind = part.get("type")
        if kind == "text":
            only_known(path, part, _TEXT_PART)
            parts.append(content_pb2.Part(text=a_string(f"{path}.text", part.get("text"))))
        elif kind == "image_url" and images:
            parts.append(_image(path, part))
        elif kind in ("input_audio", "file") and images:
            raise not_supported(f"{path}.type", f"'{kind}' content parts (v1 media here is images)")
        elif kind == "refusal" and refusals:
            only_known(path, part, _REFUSAL_PART)
            parts.append(content_pb2.Part(refusal=a_string(f"{path}.refusal", part.get("refusal"))))
        else:
            expected = "Only 'text' content parts are allowed here."
            if images or refusals:
                expected = f"Expected 'text' or '{'image_url' if images else 'refusal'}'."
            raise invalid_value(f"{path}.type", kind, expected)
    return parts


def _tool_calls(where: str, calls: object) -> list[content_pb2.Part]:
    parts: list[content_pb2.Part] = []
    for index, item in enumerate(a_list(where, calls)):
        path = f"{where}[{index}]"
        call = an_object(path, item)
        only_known(path, call, _TOOL_CALL)
        if call.get("type") != "function":
            raise invalid_value(f"{path}.type", call.get("type"), "Only 'function' tool calls are supported.")
        function = an_object(f"{path}.function", call.get("function"))
        only_known(f"{path}.function", function, _FUNCTION_CALL)
        parts.append(
            content_pb2.Part(
                tool_call=content_pb2.ToolCall(
                    id=a_string(f"{path}.id", call.get("id")),
                    name=a_string(f"{path}.function.name", function.get("name")),
                    arguments_json=a_string(f"{path}.function.arguments", function.get("arguments")),
                )
            )
        )
    return parts


def _assistant(where: str, message: JsonObject) -> list[content_pb2.Part]:
    for field in ("audio", "function_call"):
        if message.get(field) is not None:
            raise not_supported(f"{where}.{field}", f"v1 messages carry no assistant {field}")
    if message.get("annotations"):
        raise not_supported(f"{where}.annotations", "v1 messages carry no annotations")
    content = message.get("content")
    parts = [] if content is None else _parts(f"{where}.content", content, refusals=True)
    # An empty text beside tool calls says nothing (the SDKs' stream helpers assemble "" from the
    # first delta), and some providers refuse an empty text block.
    parts = [part for part in parts if part.text or part.refusal]
    refusal = message.get("refusal")
    if refusal is not None:
        parts.append(content_pb2.Part(refusal=a_string(f"{where}.refusal", refusal)))
    calls = message.get("tool_calls")
    if calls is not None:
        parts.extend(_tool_calls(f"{where}.tool_calls", calls))
    if not parts:
        if content is None:
            raise missing(f"{where}.content")
        parts.append(content_pb2.Part(text=""))  # an empty turn stays a turn, as the caller sent it
    return with_reasoning(where, message, parts)


def _tool_result(where: str, message: JsonObject) -> content_pb2.Part:
    call_id = message.get("tool_call_id")
    if call_id is None:
        raise missing(f"{where}.tool_call_id")
    content = message.get("content")
    if content is None:
        raise missing(f"{where}.content")
    return content_pb2.Part(
        tool_result=content_pb2.ToolResult(
            tool_call_id=a_string(f"{where}.tool_call_id", call_id),
            content=_parts(f"{where}.content", content),
        )
    )


def _one(where: str, message: JsonObject) -> content_pb2.Message:
    role_name = message.get("role")
    if role_name is None:
        raise missing(f"{where}.role")
    if role_name == "function":
        raise not_supported(f"{where}.role", "the deprecated 'function' role (use tools)")
    role = _ROLES.get(role_name) if isinstance(role_name, str) else None
    if role is None:
        raise invalid_value(
            f"{where}.role",
            role_name,
            "Supported values are: 'system', 'developer', 'user', 'assistant' and 'tool'.",
        )
    only_known(where, message, _KNOWN[role_name])
    converted = content_pb2.Message(role=role)
    name = message.get("name")
    if name is not None:
        converted.name = a_string(f"{where}.name", name)
    if role == content_pb2.ROLE_ASSISTANT:
        converted.parts.extend(_assistant(where, message))
    elif role == content_pb2.ROLE_TOOL:
        converted.parts.append(_tool_result(where, message))
    else:
        content = message.get("content")
        if content is None:
            raise missing(f"{where}.content")
        converted.parts.extend(_parts(f"{where}.content", content, images=role == content_pb2.ROLE_USER))
    return converted


def to_v1_messages(value: Any) -> tuple[list[content_pb2.Message], list[int]]:
    """The v1 messages of `messages`, and for each the index of the OpenAI message it starts at."""
    if value is None:
        raise missing("messages")
    converted: list[content_pb2.Message] = []
    origins: list[int] = []
    for index, item in enumerate(a_list("messages", value)):
        message = _one(f"messages[{index}]", an_object(f"messages[{index}]", item))
        if (
            message.role == content_pb2.ROLE_TOOL
            and converted
            and converted[-1].role == content_pb2.ROLE_TOOL
        ):
            converted[-1].parts.extend(message.parts)
            continue
        converted.append(message)
        origins.append(index)
    return converted, origins
