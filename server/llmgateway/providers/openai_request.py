"""v1 ChatRequest → OpenAI Chat Completions request body."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from llmgateway.errors import unsupported_capability
from llmgateway.providers.wire_json import struct_to_dict
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


@dataclass(frozen=True)
class OpenAIDialect:
    """The small differences between OpenAI-compatible servers."""

    max_tokens_field: str = "max_completion_tokens"
    supports_top_k: bool = False
    supports_developer_role: bool = True
    # Older Azure api-versions reject `stream_options`; their streams then carry no usage.
    stream_usage: bool = True
    # Azure picks the model by the deployment in the URL and ignores `model` in the body.
    sends_model: bool = True


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


def _tool_result_text(provider: str, result: content_pb2.ToolResult) -> str:
    texts = []
    for part in result.content:
        if part.WhichOneof("kind") != "text":
            raise unsupported_capability(provider, "non-text tool results")
        texts.append(part.text)
    text = "".join(texts)
    # Chat Completions has no error flag on tool messages; say it in the content the model reads.
    return f"Error: {text}" if result.is_error else text


def _assistant_message(provider: str, message: content_pb2.Message) -> dict[str, Any]:
    text = "".join(part.text for part in message.parts if part.WhichOneof("kind") == "text")
    media = [part for part in message.parts if part.WhichOneof("kind") == "media"]
    if media:
        raise unsupported_capability(provider, "media in assistant messages")
    wire: dict[str, Any] = {"role": "assistant", "content": text or None}
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
                    "content": _tool_result_text(provider, part.tool_result),
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
    body: dict[str, Any] = {}
    if config.HasField("max_output_tokens"):
        body[dialect.max_tokens_field] = config.max_output_tokens
    if config.HasField("temperature"):
        body["temperature"] = round(config.temperature, 6)
    if config.HasField("top_p"):
        body["top_p"] = round(config.top_p, 6)
    if config.HasField("top_k"):
        if not dialect.supports_top_k:
            raise unsupported_capability(provider, "top_k")
        body["top_k"] = config.top_k
    if config.stop_sequences:
        body["stop"] = list(config.stop_sequences)
    if config.HasField("seed"):
        body["seed"] = config.seed
    if config.HasField("presence_penalty"):
        body["presence_penalty"] = round(config.presence_penalty, 6)
    if config.HasField("frequency_penalty"):
        body["frequency_penalty"] = round(config.frequency_penalty, 6)
    if config.HasField("response_json_schema"):
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {
                "name": config.response_json_schema_name or "response",
                "schema": struct_to_dict(config.response_json_schema),
            },
        }
    if config.response_json_object:
        body["response_format"] = {"type": "json_object"}
    return body


def _tools(request: chat_pb2.ChatRequest) -> dict[str, Any]:
    if not request.tools:
        return {}
    body: dict[str, Any] = {
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    **({"description": tool.description} if tool.description else {}),
                    "parameters": struct_to_dict(tool.parameters)
                    if tool.HasField("parameters")
                    else {"type": "object", "properties": {}},
                },
            }
            for tool in request.tools
        ]
    }
    mode = request.tool_choice.mode
    if mode == content_pb2.ToolChoice.MODE_TOOL:
        body["tool_choice"] = {"type": "function", "function": {"name": request.tool_choice.tool_name}}
    elif mode in _TOOL_CHOICE_MODES:
        body["tool_choice"] = _TOOL_CHOICE_MODES[mode]
    if request.tool_choice.disable_parallel_tool_calls:
        body["parallel_tool_calls"] = False
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
    )
    if stream:
        body["stream"] = True
        if dialect.stream_usage:
            body["stream_options"] = {"include_usage": True}
    return body
