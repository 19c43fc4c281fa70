"""The Ollama native API: `POST /api/chat` with NDJSON streaming, `GET /api/tags` for models.

Ollama differs from the OpenAI shape in ways that matter here: `stream` defaults to true (so it is
always sent), images travel as bare base64 strings, tool-call arguments are JSON objects and arrive
whole (never in fragments), tool results name the tool (`tool_name`), and there is no tool choice.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx

from llmgateway.config import ProviderSettings
from llmgateway.errors import FieldViolation, GatewayError, invalid_argument, unsupported_capability
from llmgateway.providers.base import Provider, ProviderContext, UpstreamCall
from llmgateway.providers.media import MediaFetcher, media_bytes
from llmgateway.providers.pacing import paced_stream
from llmgateway.providers.stream_framing import ndjson_lines
from llmgateway.providers.upstream_http import (
    UpstreamHttp,
    error_from_status,
    json_object_body,
    malformed_response,
    redact,
    stream_cut,
    transport_errors,
)
from llmgateway.providers.wire_json import JSON_CONTENT, dumps, json_int, loads_object, struct_to_dict
from llmgateway.reasons import Reason
from llmgateway.v1 import chat_pb2, content_pb2

_DEFAULT_BASE_URL = "http://localhost:11434"
_CHAT_PATH = "/api/chat"
_TAGS_PATH = "/api/tags"
_ROLE_NAMES = {
    content_pb2.ROLE_SYSTEM: "system",
    # Ollama has no developer role; its instructions are what a system message carries.
    content_pb2.ROLE_DEVELOPER: "system",
    content_pb2.ROLE_USER: "user",
    content_pb2.ROLE_ASSISTANT: "assistant",
}
_FINISH_REASONS = {
    "stop": chat_pb2.FINISH_REASON_STOP,
    "length": chat_pb2.FINISH_REASON_LENGTH,
}


def _usage(wire: dict[str, Any]) -> chat_pb2.Usage:
    usage = chat_pb2.Usage(
        input_tokens=json_int(wire.get("prompt_eval_count")), output_tokens=json_int(wire.get("eval_count"))
    )
    usage.total_tokens = usage.input_tokens + usage.output_tokens
    return usage


def _finish_reason(done_reason: object, called_tools: bool) -> chat_pb2.FinishReason.ValueType:
    # Ollama reports "stop" when the model ended its turn with tool calls; older servers send no
    # reason at all on a normal end.
    if done_reason in (None, "", "stop"):
        return chat_pb2.FINISH_REASON_TOOL_CALLS if called_tools else chat_pb2.FINISH_REASON_STOP
    return _FINISH_REASONS.get(str(done_reason), chat_pb2.FINISH_REASON_OTHER)


def _tool_call_id(wire_id: object) -> str:
    """Ollama's id (newer servers send one), or a synthesised one: callers need an id to answer."""
    if isinstance(wire_id, str) and wire_id:
        return wire_id
    return f"call_{uuid.uuid4().hex[:24]}"


# ---- request ---------------------------------------------------------------------------------------


@dataclass
class _RequestBuilder:
    """v1 ChatRequest → Ollama /api/chat body."""

    provider: str
    media: MediaFetcher
    # Tool names by call id, so a ToolResult without a name can be sent with the one Ollama wants.
    call_names: dict[str, str] = field(default_factory=dict)

    async def body(self, request: chat_pb2.ChatRequest, model: str, *, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"model": model, "messages": await self._messages(request), "stream": stream}
        options = self._options(request.generation_config)
        if options:
            body["options"] = options
        if request.generation_config.HasField("response_json_schema"):
            body["format"] = struct_to_dict(request.generation_config.response_json_schema)
        if request.generation_config.response_json_object:
            body["format"] = "json"
        body.update(self._tools(request))
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
        try:
            arguments = json.loads(call.arguments_json or "{}")
        except ValueError:
            arguments = None
        if not isinstance(arguments, dict):
            # Ollama takes arguments as a JSON object, so anything else cannot be passed on.
            raise invalid_argument(
                [
                    FieldViolation(
                        f"{path}.tool_call.arguments_json", "must be a JSON object for this provider"
                    )
                ]
            )
        wire: dict[str, Any] = {"function": {"name": call.name, "arguments": arguments}}
        if call.id:
            wire["id"] = call.id
        return wire

    def _tool_results(self, message: content_pb2.Message) -> list[dict[str, Any]]:
        wire: list[dict[str, Any]] = []
        for part in message.parts:
            result = part.tool_result
            texts = []
            for item in result.content:
                if item.WhichOneof("kind") != "text":
                    raise unsupported_capability(self.provider, "non-text tool results")
                texts.append(item.text)
            text = "".join(texts)
            entry: dict[str, Any] = {
                "role": "tool",
                # Ollama has no error flag on tool messages; say it in the content the model reads.
                "content": f"Error: {text}" if result.is_error else text,
            }
            name = result.name or self.call_names.get(result.tool_call_id, "")
            if name:
                entry["tool_name"] = name
            if result.tool_call_id:
                entry["tool_call_id"] = result.tool_call_id
            wire.append(entry)
        return wire

    @staticmethod
    def _options(config: chat_pb2.GenerationConfig) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if config.HasField("max_output_tokens"):
            options["num_predict"] = config.max_output_tokens
        if config.HasField("temperature"):
            options["temperature"] = round(config.temperature, 6)
        if config.HasField("top_p"):
            options["top_p"] = round(config.top_p, 6)
        if config.HasField("top_k"):
            options["top_k"] = config.top_k
        if config.stop_sequences:
            options["stop"] = list(config.stop_sequences)
        if config.HasField("seed"):
            options["seed"] = config.seed
        if config.HasField("presence_penalty"):
            options["presence_penalty"] = round(config.presence_penalty, 6)
        if config.HasField("frequency_penalty"):
            options["frequency_penalty"] = round(config.frequency_penalty, 6)
        return options

    def _tools(self, request: chat_pb2.ChatRequest) -> dict[str, Any]:
        mode = request.tool_choice.mode
        if mode in (content_pb2.ToolChoice.MODE_REQUIRED, content_pb2.ToolChoice.MODE_TOOL):
            raise unsupported_capability(self.provider, "forcing a tool call (tool_choice required or tool)")
        if request.tool_choice.disable_parallel_tool_calls:
            raise unsupported_capability(self.provider, "limiting a turn to one tool call")
        # Ollama has no tool choice: "none" is honoured by not offering the tools at all.
        if not request.tools or mode == content_pb2.ToolChoice.MODE_NONE:
            return {}
        return {
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


# ---- response --------------------------------------------------------------------------------------


@dataclass
class _StreamState:
    tool_calls: int = 0
    model: str = ""


class OllamaProvider(Provider):
    """An Ollama server (or an authenticating proxy in front of one) over a pooled client."""

    def __init__(self, settings: ProviderSettings, context: ProviderContext) -> None:
        super().__init__(settings.name)
        self._settings = settings
        self._context = context
        self._secrets = settings.secrets()
        key = settings.api_key.get_secret_value() if settings.api_key else ""
        # Ollama itself has no auth; a key is only for a proxy in front of it.
        headers = {"authorization": f"Bearer {key}"} if key else {}
        self._http = UpstreamHttp(settings, settings.base_url or _DEFAULT_BASE_URL, headers)

    async def aclose(self) -> None:
        await self._http.aclose()

    def _error(self, response: httpx.Response) -> GatewayError:
        body = loads_object(response.content)
        error = body.get("error") if body else None
        message = str(error) if error is not None else response.text[:300]
        return error_from_status(
            self.name, response.status_code, response.headers, redact(message, self._secrets)
        )

    def _stream_error(self, line: dict[str, Any]) -> GatewayError:
        metadata = {"provider": self.name}
        if isinstance(line.get("status"), int):
            metadata["upstream_status"] = str(line["status"])
        return GatewayError(
            grpc.StatusCode.UNAVAILABLE,
            Reason.UPSTREAM_STREAM_ERROR,
            f"provider {self.name!r} reported an error mid-stream: "
            f"{redact(str(line['error']), self._secrets)}",
            metadata=metadata,
        )

    async def _body(self, call: UpstreamCall, *, stream: bool) -> dict[str, Any]:
        builder = _RequestBuilder(self.name, self._context.media)
        return await builder.body(call.request, call.upstream_model, stream=stream)

    async def list_models(self) -> list[str] | None:
        async with transport_errors(self.name):
            response = await self._http.client.get(_TAGS_PATH)
        if response.status_code != 200:
            raise self._error(response)
        payload = loads_object(response.content)
        models = payload.get("models") if payload else None
        if not isinstance(models, list):
            raise malformed_response(self.name, "no models list in /api/tags")
        return [m["name"] for m in models if isinstance(m, dict) and isinstance(m.get("name"), str)]

    async def chat(self, call: UpstreamCall) -> chat_pb2.ChatResponse:
        body = await self._body(call, stream=False)
        async with transport_errors(self.name):
            response = await self._http.post(_CHAT_PATH, content=dumps(body), headers=JSON_CONTENT)
        if response.status_code != 200:
            raise self._error(response)
        payload = json_object_body(self.name, response.content)
        if "error" in payload:
            raise self._stream_error(payload)
        message = payload.get("message")
        if not isinstance(message, dict) or payload.get("done") is not True:
            raise malformed_response(self.name, "no finished message in the response")
        parts = self._parts(message)
        called = any(part.WhichOneof("kind") == "tool_call" for part in parts)
        return chat_pb2.ChatResponse(
            model=str(payload.get("model") or call.upstream_model),
            message=content_pb2.Message(role=content_pb2.ROLE_ASSISTANT, parts=parts),
            finish_reason=_finish_reason(payload.get("done_reason"), called),
            usage=_usage(payload),
        )

    def _parts(self, message: dict[str, Any]) -> list[content_pb2.Part]:
        parts: list[content_pb2.Part] = []
        thinking = message.get("thinking")
        if isinstance(thinking, str) and thinking:
            parts.append(content_pb2.Part(reasoning=content_pb2.Reasoning(text=thinking)))
        text = message.get("content")
        if isinstance(text, str) and text:
            parts.append(content_pb2.Part(text=text))
        for wire_call in self._wire_tool_calls(message):
            call_id, name, arguments = wire_call
            parts.append(
                content_pb2.Part(
                    tool_call=content_pb2.ToolCall(id=call_id, name=name, arguments_json=arguments)
                )
            )
        return parts

    def _wire_tool_calls(self, message: dict[str, Any]) -> list[tuple[str, str, str]]:
        """(id, name, arguments JSON) of each tool call in a wire message."""
        calls = message.get("tool_calls") or []
        if not isinstance(calls, list):
            raise malformed_response(self.name, "tool_calls is not a list")
        result = []
        for call in calls:
            function = call.get("function") if isinstance(call, dict) else None
            if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                raise malformed_response(self.name, "tool call without a function name")
            arguments = function.get("arguments")
            if arguments is None:
                arguments = {}
            text = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
            result.append((_tool_call_id(call.get("id")), function["name"], text))
        return result

    async def stream(self, call: UpstreamCall) -> AsyncGenerator[chat_pb2.ChatStreamResponse, None]:
        body = await self._body(call, stream=True)
        timeouts = self._settings.timeouts
        async with (
            transport_errors(self.name),
            # `paced` bounds the waits between lines; httpx only bounds connecting and sending.
            self._http.stream(
                _CHAT_PATH,
                content=dumps(body),
                headers=JSON_CONTENT,
            ) as response,
        ):
            if response.status_code != 200:
                await self._http.read(response)
                raise self._error(response)
            content_type = response.headers.get("content-type", "")
            if "ndjson" not in content_type:
                raise malformed_response(self.name, f"content type {content_type!r} is not NDJSON")
            state = _StreamState()
            async with paced_stream(
                ndjson_lines(response, self.name, self._settings.max_stream_event_bytes),
                self.name,
                timeouts.first_token_s,
                timeouts.between_tokens_s,
            ) as lines:
                async for raw in lines:
                    if not raw.strip():
                        continue
                    line = loads_object(raw)
                    if line is None:
                        raise malformed_response(self.name, "a stream line that is not a JSON object")
                    if "error" in line:
                        raise self._stream_error(line)
                    for message in self._line_messages(line, state):
                        yield message
                    if line.get("done") is True:
                        return
        raise stream_cut(self.name, "no done line")

    def _line_messages(self, line: dict[str, Any], state: _StreamState) -> list[chat_pb2.ChatStreamResponse]:
        model = line.get("model")
        state.model = model if isinstance(model, str) else state.model
        message = line.get("message") or {}
        if not isinstance(message, dict):
            raise malformed_response(self.name, "message is not an object")
        out = chat_pb2.ChatStreamResponse(model=state.model)
        thinking = message.get("thinking")
        if isinstance(thinking, str) and thinking:
            out.delta.reasoning = thinking
        text = message.get("content")
        if isinstance(text, str) and text:
            out.delta.text = text
        for call_id, name, arguments in self._wire_tool_calls(message):
            # A call arrives whole: its id, name and all of its arguments form one fragment.
            out.delta.tool_calls.append(
                chat_pb2.ToolCallDelta(
                    index=state.tool_calls, id=call_id, name=name, arguments_json_fragment=arguments
                )
            )
            state.tool_calls += 1
        messages: list[chat_pb2.ChatStreamResponse] = []
        done = line.get("done") is True
        if done:
            out.finish_reason = _finish_reason(line.get("done_reason"), state.tool_calls > 0)
        if out.HasField("delta") or done:
            messages.append(out)
        if done:
            messages.append(chat_pb2.ChatStreamResponse(model=state.model, usage=_usage(line)))
        return messages


def create(settings: ProviderSettings, context: ProviderContext) -> Provider:
    """An Ollama provider."""
    return OllamaProvider(settings, context)
