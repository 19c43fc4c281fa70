"""The Messages API's `system` and `messages` as v1 messages.

A user turn's `tool_result` blocks become one ROLE_TOOL message (v1 keeps tool results apart) and
its other blocks the ROLE_USER message after it; assistant turns carry text, tool calls, signed
thinking and redacted thinking (their signer read back from the door's prefix, signatures.py).
Blocks v1 cannot carry (documents, server tools, search results ...) and block options it cannot
carry (citations) are refused with the parameter named; cache_control becomes the part's cache
breakpoint.
"""

from __future__ import annotations

import base64
import binascii

import orjson

from llmgateway.frontends.anthropic.cache_control import marked
from llmgateway.frontends.anthropic.errors import invalid
from llmgateway.frontends.anthropic.wire import (
    JsonObject,
    at,
    boolean,
    json_list,
    json_object,
    only_keys,
    present,
    required,
    string,
)
from llmgateway.reasoning.shown import parsed
from llmgateway.v1 import content_pb2

_IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
# Options of every block that v1 has no place for; null (or an empty list) asks for nothing.
_UNCARRIED = ("citations",)
_USER_BLOCKS = ("text", "image", "tool_result")
_ASSISTANT_BLOCKS = ("text", "tool_use", "thinking", "redacted_thinking")

Part = content_pb2.Part
Message = content_pb2.Message


def system_message(value: object) -> Message | None:
    """`system` (a string or text blocks) as one ROLE_SYSTEM message; None when empty."""
    if isinstance(value, str):
        parts = [Part(text=value)] if value else []
    else:
        parts = []
        for i, block in enumerate(json_list("system", value)):
            path = at("system", i)
            _kind(path, json_object(path, block), ("text",))
            parts.append(_text(path, block))
    return Message(role=content_pb2.ROLE_SYSTEM, parts=parts) if parts else None


def conversation(value: object) -> list[Message]:
    """`messages` as v1 messages, in order."""
    turns = json_list("messages", value)
    if not turns:
        raise invalid("messages", "at least one message is required")
    messages: list[Message] = []
    for i, value_at_i in enumerate(turns):
        path = at("messages", i)
        turn = json_object(path, value_at_i)
        only_keys(path, turn, ("role", "content"))
        role = required(path, turn, "role")
        blocks = _blocks(at(path, "content"), required(path, turn, "content"))
        if role == "user":
            messages.extend(_user_turn(at(path, "content"), blocks))
        elif role == "assistant":
            parts = [_assistant_part(at(at(path, "content"), j), block) for j, block in enumerate(blocks)]
            messages.append(Message(role=content_pb2.ROLE_ASSISTANT, parts=parts))
        elif role == "system":
            raise invalid(
                at(path, "role"),
                'Unexpected role "system": the Messages API takes a top-level `system` parameter',
            )
        else:
            raise invalid(at(path, "role"), "Input should be 'user' or 'assistant'")
    return messages


def _blocks(path: str, content: object) -> list[JsonObject]:
    """A turn's content as blocks: a string is one text block."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    blocks = [json_object(at(path, j), block) for j, block in enumerate(json_list(path, content))]
    if not blocks:
        raise invalid(path, "all messages must have non-empty content")
    return blocks


def _kind(path: str, block: JsonObject, allowed: tuple[str, ...]) -> str:
    kind = string(at(path, "type"), required(path, block, "type"))
    if kind not in allowed:
        known = ", ".join(f"'{name}'" for name in allowed)
        raise invalid(
            at(path, "type"), f"'{kind}' blocks are not supported by this gateway here (it takes {known})"
        )
    return kind


def _user_turn(path: str, blocks: list[JsonObject]) -> list[Message]:
    """ROLE_TOOL for the turn's tool results, then ROLE_USER for the rest. Tool results must come
    first, as the Messages API requires, so the two messages keep the turn's order."""
    results: list[Part] = []
    others: list[Part] = []
    for j, block in enumerate(blocks):
        where = at(path, j)
        kind = _kind(where, block, _USER_BLOCKS)
        if kind == "tool_result":
            if others:
                raise invalid(where, "tool_result blocks must come first in the content array")
            results.append(_tool_result(where, block))
        else:
            others.append(_text(where, block) if kind == "text" else _image(where, block))
    messages: list[Message] = []
    if results:
        messages.append(Message(role=content_pb2.ROLE_TOOL, parts=results))
    if others:
        messages.append(Message(role=content_pb2.ROLE_USER, parts=others))
    return messages


def _assistant_part(path: str, block: JsonObject) -> Part:
    kind = _kind(path, block, _ASSISTANT_BLOCKS)
    if kind == "text":
        return _text(path, block)
    if kind == "tool_use":
        return _tool_use(path, block)
    if kind == "redacted_thinking":
        only_keys(path, block, ("type", "data"))
        signer, data = parsed(string(at(path, "data"), required(path, block, "data"), non_empty=True))
        return Part(reasoning=content_pb2.Reasoning(redacted_data=data, origin=signer))
    only_keys(path, block, ("type", "thinking", "signature"))
    thinking = string(at(path, "thinking"), required(path, block, "thinking"))
    # Empty when a provider without signatures thought (the door's own answers then carry ""):
    # the SDK sends such blocks back as they came, and providers that need a signature skip them.
    signer, signature = parsed(string(at(path, "signature"), required(path, block, "signature")))
    return Part(reasoning=content_pb2.Reasoning(text=thinking, signature=signature, origin=signer))


def _text(path: str, block: JsonObject) -> Part:
    only_keys(path, block, ("type", "text", "cache_control"), _UNCARRIED)
    text = string(at(path, "text"), required(path, block, "text"))
    if not text:
        raise invalid(path, "text content blocks must be non-empty")
    return marked(Part(text=text), path, block)


def _image(path: str, block: JsonObject) -> Part:
    return marked(_image_source(path, block), path, block)


def _image_source(path: str, block: JsonObject) -> Part:
    only_keys(path, block, ("type", "source", "cache_control"), _UNCARRIED)
    where = at(path, "source")
    source = json_object(where, required(path, block, "source"))
    kind = string(at(where, "type"), required(where, source, "type"))
    if kind == "url":
        only_keys(where, source, ("type", "url"))
        url = string(at(where, "url"), required(where, source, "url"))
        if not url.startswith("https://"):
            raise invalid(at(where, "url"), "must be an https URL")
        return Part(media=content_pb2.Media(uri=url))
    if kind != "base64":
        raise invalid(at(where, "type"), "Input should be 'base64' or 'url'")
    only_keys(where, source, ("type", "media_type", "data"))
    media_type = string(at(where, "media_type"), required(where, source, "media_type"))
    if media_type not in _IMAGE_TYPES:
        raise invalid(at(where, "media_type"), "Input should be " + ", ".join(f"'{t}'" for t in _IMAGE_TYPES))
    data = string(at(where, "data"), required(where, source, "data"), non_empty=True)
    try:
        decoded = base64.b64decode(data, validate=True)
    except binascii.Error:
        raise invalid(at(where, "data"), "The image data is not valid base64") from None
    return Part(media=content_pb2.Media(mime_type=media_type, data=decoded))


def _tool_use(path: str, block: JsonObject) -> Part:
    only_keys(path, block, ("type", "id", "name", "input", "cache_control"), ("caller",))
    call_input = json_object(at(path, "input"), required(path, block, "input"))
    part = Part(
        tool_call=content_pb2.ToolCall(
            id=string(at(path, "id"), required(path, block, "id"), non_empty=True),
            name=string(at(path, "name"), required(path, block, "name"), non_empty=True),
            arguments_json=orjson.dumps(call_input).decode(),
        )
    )
    return marked(part, path, block)


def _tool_result(path: str, block: JsonObject) -> Part:
    only_keys(path, block, ("type", "tool_use_id", "content", "is_error", "cache_control"))
    result = content_pb2.ToolResult(
        tool_call_id=string(at(path, "tool_use_id"), required(path, block, "tool_use_id"), non_empty=True),
        is_error=boolean(at(path, "is_error"), block["is_error"]) if present(block, "is_error") else False,
    )
    content = block.get("content")
    where = at(path, "content")
    if isinstance(content, str):
        if content:
            result.content.append(Part(text=content))
    elif content is not None:
        for j, item in enumerate(json_list(where, content)):
            inner_path = at(where, j)
            inner = json_object(inner_path, item)
            kind = _kind(inner_path, inner, ("text", "image"))
            result.content.append(_text(inner_path, inner) if kind == "text" else _image(inner_path, inner))
    return marked(Part(tool_result=result), path, block)
