"""v1 ChatRequest → Ollama `/api/chat` body.

`stream` defaults to true on Ollama, so it is always sent; images travel as bare base64 strings;
tool-call arguments are JSON objects; tool results name the tool (`tool_name`); there is no tool
choice.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from llmgateway.errors import unsupported_capability
from llmgateway.providers.media import MediaFetcher, media_bytes
from llmgateway.providers.wire_json import struct_to_dict
from llmgateway.providers.wire_request import (
    arguments_object,
    flagged_tool_result_text,
    function_tools,
    openai_sampling,
    refuse_strict_tools,
)
from llmgateway.reasoning.ask import requested as requested_reasoning
from llmgateway.v1 import chat_pb2, content_pb2

# The thinking levels gpt-oss takes as `think`.
_LEVELS = ("low", "medium", "high")
_ROLE_NAMES = {
    content_pb2.ROLE_SYSTEM: "system",
    # Ollama has no developer role; its instructions are what a system message carries.
    content_pb2.ROLE_DEVELOPER: "system",
    content_pb2.ROLE_USER: "user",
    content_pb2.ROLE_ASSISTANT: "assistant",
}


def _think(request: chat_pb2.ChatRequest, model: str) -> bool | str | None:
    """Ollama's `think`: on or off, or a level for the models that take one (gpt-oss)."""
    ask = requested_reasoning(request)
    if ask is None:
        return None
    if ask.off:
        return False
    if model.startswith("gpt-oss") and ask.effort in _LEVELS:
        return ask.effort
    return True


@dataclass
class RequestBuilder:
    """v1 ChatRequest → Ollama /api/chat body."""

    provider: str
    media: MediaFetcher
    # Tool names by call id, so a ToolResult without a name can be sent with the one Ollama wants.
    call_names: dict[str, str] = field(default_factory=dict)

    async def body(self, request: chat_pb2.ChatRequest, model: str, *, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"model": model, "messages": await self._messages(request), "stream": stream}
        options = openai_sampling(request.generation_config, "num_predict")
        if options:
            body["options"] = options
        if request.generation_config.HasField("response_json_schema"):
            body["format"] = struct_to_dict(request.generation_config.response_json_schema)
        if request.generation_config.response_json_object:
            body["format"] = "json"
        body.update(self._tools(request))
        think = _think(request, model)
        if think is not None:
            body["think"] = think
        return body

    async def _messages(self, request: chat_pb2.ChatRequest) -> list[dict[str, Any]]:
        wire: list[dict[str, Any]] = []
        for index, message in enumerate(request.messages):
            if message.name:
                raise unsupported_capability(self.provider, "message names")
            if message.role == content_pb2.ROLE_TOOL:
                wire.extend(self._tool_results(message))
            elif message.role == content_pb2.ROLE_ASSISTANT:
                wire.append(self._assistant(index, message))
            else:
                wire.append(await self._plain(message))
        return wire

    async def _plain(self, message: content_pb2.Message) -> dict[str, Any]:
        texts: list[str] = []
        images: list[str] = []
        for part in message.parts:
            kind = part.WhichOneof("kind")
            if kind == "text":
                texts.append(part.text)
            elif kind == "media":
                images.append(await self._image(part.media))
        wire: dict[str, Any] = {"role": _ROLE_NAMES.get(message.role, "user"), "content": "".join(texts)}
        if images:
            wire["images"] = images
        return wire

    async def _image(self, media: content_pb2.Media) -> str:
        # Ollama only takes images, as bytes; a URI is inlined (or refused) by media_bytes.
        if media.mime_type and not media.mime_type.startswith("image/"):
            raise unsupported_capability(self.provider, f"media of type {media.mime_type!r}")
        data, mime_type = await media_bytes(media, self.provider, self.media)
        if mime_type and not mime_type.startswith("image/"):
            raise unsupported_capability(self.provider, f"media of type {mime_type!r}")
        return base64.b64encode(data).decode("ascii")

    def _assistant(self, index: int, message: content_pb2.Message) -> dict[str, Any]:
        wire: dict[str, Any] = {"role": "assistant", "content": ""}
        thinking: list[str] = []
        calls: list[dict[str, Any]] = []
        for part_index, part in enumerate(message.parts):
            kind = part.WhichOneof("kind")
            if kind == "text":
                wire["content"] += part.text
            elif kind == "refusal":
                wire["content"] += part.refusal  # /api/chat has no refusal field: it is text
            elif kind == "reasoning":
                thinking.append(part.reasoning.text)
            elif kind == "media":
                raise unsupported_capability(self.provider, "media in assistant messages")
            elif kind == "tool_call":
                calls.append(self._tool_call(f"messages[{index}].parts[{part_index}]", part.tool_call))
        if thinking:
            wire["thinking"] = "".join(thinking)
        if calls:
            wire["tool_calls"] = calls
        return wire

    def _tool_call(self, path: str, call: content_pb2.ToolCall) -> dict[str, Any]:
        self.call_names[call.id] = call.name
        # Ollama takes arguments as a JSON object, so anything else cannot be passed on.
        arguments = arguments_object(path, call, "must be a JSON object for this provider")
        wire: dict[str, Any] = {"function": {"name": call.name, "arguments": arguments}}
        if call.id:
            wire["id"] = call.id
        return wire

    def _tool_results(self, message: content_pb2.Message) -> list[dict[str, Any]]:
        wire: list[dict[str, Any]] = []
        for part in message.parts:
            result = part.tool_result
            # Ollama has no error flag on tool messages.
            entry: dict[str, Any] = {
                "role": "tool",
                "content": flagged_tool_result_text(self.provider, result),
            }
            name = result.name or self.call_names.get(result.tool_call_id, "")
            if name:
                entry["tool_name"] = name
            if result.tool_call_id:
                entry["tool_call_id"] = result.tool_call_id
            wire.append(entry)
        return wire

    def _tools(self, request: chat_pb2.ChatRequest) -> dict[str, Any]:
        mode = request.tool_choice.mode
        if mode in (content_pb2.ToolChoice.MODE_REQUIRED, content_pb2.ToolChoice.MODE_TOOL):
            raise unsupported_capability(self.provider, "forcing a tool call (tool_choice required or tool)")
        if request.tool_choice.disable_parallel_tool_calls:
            raise unsupported_capability(self.provider, "limiting a turn to one tool call")
        refuse_strict_tools(self.provider, request.tools)
        # Ollama has no tool choice: "none" is honoured by not offering the tools at all.
        if not request.tools or mode == content_pb2.ToolChoice.MODE_NONE:
            return {}
        return {"tools": function_tools(request.tools)}
