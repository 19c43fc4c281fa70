"""v1 ChatRequest → OpenAI Chat Completions request body, in a server's dialect."""

from __future__ import annotations

import base64
from typing import Any

from llmgateway.errors import unsupported_capability
from llmgateway.providers.cache_breakpoints import prompt_cache_key
from llmgateway.providers.openai_compat.dialects import OpenAIDialect
from llmgateway.providers.wire_json import struct_to_dict
from llmgateway.providers.wire_request import (
    flagged_tool_result_text,
    function_tools,
    openai_sampling,
    refuse_fields,
)
from llmgateway.reasoning import support
from llmgateway.reasoning.ask import requested as requested_reasoning
from llmgateway.v1 import chat_pb2, content_pb2

_ROLE_NAMES = {
    content_pb2.ROLE_SYSTEM: "system",
    content_pb2.ROLE_DEVELOPER: "developer",
    content_pb2.ROLE_USER: "user",
    content_pb2.ROLE_ASSISTANT: "assistant",
}

_TOOL_CHOICE_MODES = {
    content_pb2.ToolChoice.MODE_AUTO: "auto",
    content_pb2.ToolChoice.MODE_NONE: "none",
    content_pb2.ToolChoice.MODE_REQUIRED: "required",
}


def _image_part(provider: str, media: content_pb2.Media) -> dict[str, Any]:
    # A URI without a mime type is taken as an image: image_url is the only media Chat Completions
    # accepts by URI, and the provider itself rejects a URI that is not one.
    if media.mime_type and not media.mime_type.startswith("image/"):
        raise unsupported_capability(provider, f"media of type {media.mime_type!r}")
    if media.WhichOneof("source") == "data":
        url = f"data:{media.mime_type};base64,{base64.b64encode(media.data).decode('ascii')}"
    else:
        url = media.uri
    return {"type": "image_url", "image_url": {"url": url}}


def _content(provider: str, parts: list[content_pb2.Part]) -> str | list[dict[str, Any]]:
    """Plain string when the message is text only (every OpenAI-compatible server takes that);
    the list-of-parts form only when there is media."""
    if all(part.WhichOneof("kind") == "text" for part in parts):
        return "".join(part.text for part in parts)
    blocks: list[dict[str, Any]] = []
    for part in parts:
        kind = part.WhichOneof("kind")
        if kind == "text":
            blocks.append({"type": "text", "text": part.text})
        elif kind == "media":
            blocks.append(_image_part(provider, part.media))
    return blocks


def _assistant_message(provider: str, message: content_pb2.Message) -> dict[str, Any]:
    text = "".join(part.text for part in message.parts if part.WhichOneof("kind") == "text")
    media = [part for part in message.parts if part.WhichOneof("kind") == "media"]
    if media:
        raise unsupported_capability(provider, "media in assistant messages")
    wire: dict[str, Any] = {"role": "assistant", "content": text or None}
    refusal = "".join(part.refusal for part in message.parts if part.WhichOneof("kind") == "refusal")
    if refusal:
        wire["refusal"] = refusal  # Chat Completions' own field for an earlier refusal
    calls = [part.tool_call for part in message.parts if part.WhichOneof("kind") == "tool_call"]
    if calls:
        wire["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments_json or "{}"},
            }
            for call in calls
        ]
    # Reasoning parts from earlier turns are not sent: Chat Completions has no field for them.
    if message.name:
        wire["name"] = message.name
    return wire


def _messages(provider: str, request: chat_pb2.ChatRequest, dialect: OpenAIDialect) -> list[dict[str, Any]]:
    wire: list[dict[str, Any]] = []
    for message in request.messages:
        if message.role == content_pb2.ROLE_ASSISTANT:
            wire.append(_assistant_message(provider, message))
        elif message.role == content_pb2.ROLE_TOOL:
            wire.extend(
                {
                    "role": "tool",
                    "tool_call_id": part.tool_result.tool_call_id,
                    # Chat Completions has no error flag on tool messages.
                    "content": flagged_tool_result_text(provider, part.tool_result),
                }
                for part in message.parts
            )
        else:
            role = _ROLE_NAMES[message.role]
            if role == "developer" and not dialect.supports_developer_role:
                role = "system"
            item: dict[str, Any] = {"role": role, "content": _content(provider, list(message.parts))}
            if message.name:
                item["name"] = message.name
            wire.append(item)
    return wire


def _generation(provider: str, config: chat_pb2.GenerationConfig, dialect: OpenAIDialect) -> dict[str, Any]:
    if not dialect.supports_top_k:
        refuse_fields(provider, config, ["top_k"])
    body = openai_sampling(config, dialect.max_tokens_field)
    if config.HasField("response_json_schema"):
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {
                "name": config.response_json_schema_name or "response",
                "schema": struct_to_dict(config.response_json_schema),
                **({"strict": True} if config.response_json_schema_strict else {}),
            },
        }
    if config.response_json_object:
        body["response_format"] = {"type": "json_object"}
    return body


def _tools(request: chat_pb2.ChatRequest) -> dict[str, Any]:
    if not request.tools:
        return {}
    body: dict[str, Any] = {"tools": function_tools(request.tools)}
    for wire, tool in zip(body["tools"], request.tools, strict=True):
        if tool.strict:
            wire["function"]["strict"] = True
    mode = request.tool_choice.mode
    if mode == content_pb2.ToolChoice.MODE_TOOL:
        body["tool_choice"] = {"type": "function", "function": {"name": request.tool_choice.tool_name}}
    elif mode in _TOOL_CHOICE_MODES:
        body["tool_choice"] = _TOOL_CHOICE_MODES[mode]
    if request.tool_choice.disable_parallel_tool_calls:
        body["parallel_tool_calls"] = False
    return body


def _reasoning(request: chat_pb2.ChatRequest, upstream_model: str, dialect: OpenAIDialect) -> dict[str, Any]:
    """`reasoning_effort` (and vLLM's template switch). The capability filter has already kept
    budgets and thought text away from servers that cannot honour them."""
    ask = requested_reasoning(request)
    if ask is None:
        return {}
    body: dict[str, Any] = {}
    if dialect.thinking_template_switch:
        body["chat_template_kwargs"] = {"enable_thinking": not ask.off}
        if ask.effort not in (None, "none"):
            body["reasoning_effort"] = ask.effort
    elif ask.effort is not None and (not ask.off or support.reasons(upstream_model, None)):
        body["reasoning_effort"] = ask.effort
    return body


def build_body(
    provider: str,
    request: chat_pb2.ChatRequest,
    upstream_model: str,
    dialect: OpenAIDialect,
    *,
    stream: bool,
) -> dict[str, Any]:
    """The JSON body for a chat completion. Raises UNSUPPORTED_CAPABILITY for anything the server
    cannot take, rather than dropping it."""
    body: dict[str, Any] = {"model": upstream_model} if dialect.sends_model else {}
    body.update(
        messages=_messages(provider, request, dialect),
        **_generation(provider, request.generation_config, dialect),
        **_tools(request),
        **_reasoning(request, upstream_model, dialect),
    )
    if dialect.prompt_cache_key and (key := prompt_cache_key(request)):
        body["prompt_cache_key"] = key
    if stream:
        body["stream"] = True
        if dialect.stream_usage:
            body["stream_options"] = {"include_usage": True}
    return body
