"""The Anthropic Messages API (`POST /v1/messages`), unary and streamed with named SSE events."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
from httpx_sse import SSEError

from llmgateway.config import ProviderSettings
from llmgateway.errors import GatewayError
from llmgateway.providers.anthropic_request import build_body
from llmgateway.providers.base import Provider, ProviderContext, UpstreamCall
from llmgateway.providers.media import MediaFetcher
from llmgateway.providers.pacing import paced_stream
from llmgateway.providers.stream_framing import sse_events
from llmgateway.providers.upstream_http import (
    UpstreamHttp,
    error_from_status,
    json_object_body,
    malformed_response,
    redact,
    stream_cut,
    transport_errors,
)
from llmgateway.providers.wire_json import JSON_CONTENT, dumps, json_int, loads_object
from llmgateway.reasons import Reason
from llmgateway.v1 import chat_pb2, content_pb2

_DEFAULT_BASE_URL = "https://api.anthropic.com"
_DEFAULT_VERSION = "2023-06-01"
_MESSAGES_PATH = "/v1/messages"
_MODELS_PATH = "/v1/models"
_STOP_REASONS = {
    "end_turn": chat_pb2.FINISH_REASON_STOP,
    "stop_sequence": chat_pb2.FINISH_REASON_STOP,
    "max_tokens": chat_pb2.FINISH_REASON_LENGTH,
    "model_context_window_exceeded": chat_pb2.FINISH_REASON_LENGTH,
    "tool_use": chat_pb2.FINISH_REASON_TOOL_CALLS,
    "refusal": chat_pb2.FINISH_REASON_CONTENT_FILTER,
    "pause_turn": chat_pb2.FINISH_REASON_OTHER,
}
# Anthropic reports an over-long prompt as a plain invalid_request_error; its message tells it apart.
_CONTEXT_MESSAGES = ("prompt is too long", "context window", "context length")


def _stop_reason(value: object) -> chat_pb2.FinishReason.ValueType:
    if value is None:
        return chat_pb2.FINISH_REASON_UNSPECIFIED
    return _STOP_REASONS.get(str(value), chat_pb2.FINISH_REASON_OTHER)


@dataclass
class _UsageTotals:
    """Usage as Anthropic reports it in pieces; our input count includes the cached tokens."""

    uncached_input: int = 0
    cache_creation: int = 0
    cache_read: int = 0
    output: int = 0

    def update(self, wire: object) -> None:
        # Each figure is cumulative, and message_delta repeats only some of them.
        if not isinstance(wire, dict):
            return
        self.uncached_input = json_int(wire.get("input_tokens")) or self.uncached_input
        self.cache_creation = json_int(wire.get("cache_creation_input_tokens")) or self.cache_creation
        self.cache_read = json_int(wire.get("cache_read_input_tokens")) or self.cache_read
        self.output = json_int(wire.get("output_tokens")) or self.output

    def proto(self) -> chat_pb2.Usage:
        total_input = self.uncached_input + self.cache_creation + self.cache_read
        return chat_pb2.Usage(
            input_tokens=total_input,
            output_tokens=self.output,
            cached_input_tokens=self.cache_read,
            total_tokens=total_input + self.output,
        )


@dataclass
class _StreamState:
    """What a stream has told us so far: which content block is which, and the tool-call count."""

    usage: _UsageTotals = field(default_factory=_UsageTotals)
    model: str = ""
    # Anthropic content block index → our tool-call index (tool calls count from 0 on their own).
    tool_calls: dict[int, int] = field(default_factory=dict)


class AnthropicProvider(Provider):
    """A provider speaking the Anthropic Messages API over one pooled keep-alive client."""

    def __init__(self, settings: ProviderSettings, media: MediaFetcher) -> None:
        super().__init__(settings.name)
        self._settings = settings
        self._media = media
        self._version = settings.api_version or _DEFAULT_VERSION
        self._secrets = settings.secrets()
        headers = {"anthropic-version": self._version}
        # One credential only: with both headers present the API reads x-api-key and ignores the other.
        if settings.api_key:
            headers["x-api-key"] = settings.api_key.get_secret_value()
        elif settings.bearer_token:
            headers["authorization"] = f"Bearer {settings.bearer_token.get_secret_value()}"
        self._http = UpstreamHttp(settings, settings.base_url or _DEFAULT_BASE_URL, headers)

    async def aclose(self) -> None:
        await self._http.aclose()

    def _error(self, response: httpx.Response) -> GatewayError:
        body = loads_object(response.content)
        error = body.get("error") if body else None
        if isinstance(error, dict):
            message = str(error.get("message") or "")
            code = str(error.get("type") or "")
        else:
            message, code = response.text[:300], ""
        if response.status_code == 400 and any(text in message.lower() for text in _CONTEXT_MESSAGES):
            code = "context_length_exceeded"
        return error_from_status(
            self.name, response.status_code, response.headers, redact(message, self._secrets), code
        )

    async def _body(self, call: UpstreamCall, *, stream: bool) -> dict[str, Any]:
        return await build_body(
            self.name, call.request, call.upstream_model, self._version, self._media, stream=stream
        )

    async def chat(self, call: UpstreamCall) -> chat_pb2.ChatResponse:
        body = await self._body(call, stream=False)
        async with transport_errors(self.name):
            response = await self._http.post(_MESSAGES_PATH, content=dumps(body), headers=JSON_CONTENT)
        if response.status_code != 200:
            raise self._error(response)
        payload = json_object_body(self.name, response.content)
        if payload.get("type") != "message" or not isinstance(payload.get("content"), list):
            raise malformed_response(self.name, "not a message object with content")
        usage = _UsageTotals()
        usage.update(payload.get("usage"))
        return chat_pb2.ChatResponse(
            model=str(payload.get("model") or call.upstream_model),
            message=content_pb2.Message(
                role=content_pb2.ROLE_ASSISTANT, parts=self._parts(payload["content"])
            ),
            finish_reason=_stop_reason(payload.get("stop_reason")),
            usage=usage.proto(),
        )

    def _parts(self, blocks: list[Any]) -> list[content_pb2.Part]:
        parts: list[content_pb2.Part] = []
        for block in blocks:
            if not isinstance(block, dict):
                raise malformed_response(self.name, "a content block that is not an object")
            kind = block.get("type")
            if kind == "text":
                parts.append(content_pb2.Part(text=str(block.get("text") or "")))
            elif kind == "thinking":
                reasoning = content_pb2.Reasoning(
                    text=str(block.get("thinking") or ""), signature=str(block.get("signature") or "")
                )
                parts.append(content_pb2.Part(reasoning=reasoning))
            elif kind == "tool_use":
                if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
                    raise malformed_response(self.name, "a tool_use block without id or name")
                call = content_pb2.ToolCall(
                    id=block["id"], name=block["name"], arguments_json=json.dumps(block.get("input") or {})
                )
                parts.append(content_pb2.Part(tool_call=call))
            # Other block types (redacted thinking, server tool blocks) carry nothing v1 can express.
        return parts

    async def stream(self, call: UpstreamCall) -> AsyncGenerator[chat_pb2.ChatStreamResponse, None]:
        body = await self._body(call, stream=True)
        timeouts = self._settings.timeouts
        async with (
            transport_errors(self.name),
            # `paced` enforces the gaps between events; httpx only bounds connecting and sending.
            self._http.stream(
                _MESSAGES_PATH,
                content=dumps(body),
                headers=JSON_CONTENT,
            ) as response,
        ):
            if response.status_code != 200:
                await self._http.read(response)
                raise self._error(response)
            state = _StreamState()
            try:
                async with paced_stream(
                    sse_events(response, self.name, self._settings.max_stream_event_bytes),
                    self.name,
                    timeouts.first_token_s,
                    timeouts.between_tokens_s,
                ) as events:
                    async for event in events:
                        data = loads_object(event.data)
                        if data is None:
                            raise malformed_response(self.name, "a stream event that is not a JSON object")
                        kind = data.get("type") or event.event
                        if kind == "message_stop":
                            return
                        message = self._event_message(str(kind), data, state)
                        if message is not None:
                            yield message
            except SSEError:
                raise malformed_response(
                    self.name, f"content type {response.headers.get('content-type')!r} is not an event stream"
                ) from None
        raise stream_cut(self.name, "no message_stop event")

    def _event_message(
        self, kind: str, data: dict[str, Any], state: _StreamState
    ) -> chat_pb2.ChatStreamResponse | None:
        """The stream message for one event, if it carries anything; unknown events are skipped,
        as the API may add event types within a version."""
        if kind == "message_start":
            message = data.get("message")
            if not isinstance(message, dict):
                raise malformed_response(self.name, "message_start without a message")
            state.model = str(message.get("model") or "")
            state.usage.update(message.get("usage"))
            return chat_pb2.ChatStreamResponse(model=state.model, usage=state.usage.proto())
        if kind == "content_block_start":
            return self._block_start(data, state)
        if kind == "content_block_delta":
            return self._block_delta(data, state)
        if kind == "message_delta":
            state.usage.update(data.get("usage"))
            delta = data.get("delta")
            stop_reason = delta.get("stop_reason") if isinstance(delta, dict) else None
            return chat_pb2.ChatStreamResponse(
                model=state.model, finish_reason=_stop_reason(stop_reason), usage=state.usage.proto()
            )
        if kind == "error":
            raise self._stream_error(data)
        return None

    def _block_start(self, data: dict[str, Any], state: _StreamState) -> chat_pb2.ChatStreamResponse | None:
        block = data.get("content_block")
        if not isinstance(block, dict):
            raise malformed_response(self.name, "content_block_start without a content_block")
        if block.get("type") != "tool_use":
            # Text and thinking blocks start empty; their deltas carry the content.
            return None
        if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
            raise malformed_response(self.name, "a tool_use block without id or name")
        tool_index = len(state.tool_calls)
        state.tool_calls[json_int(data.get("index"))] = tool_index
        out = chat_pb2.ChatStreamResponse(model=state.model)
        out.delta.tool_calls.append(
            chat_pb2.ToolCallDelta(index=tool_index, id=block["id"], name=block["name"])
        )
        return out

    def _block_delta(self, data: dict[str, Any], state: _StreamState) -> chat_pb2.ChatStreamResponse | None:
        delta = data.get("delta")
        if not isinstance(delta, dict):
            raise malformed_response(self.name, "content_block_delta without a delta")
        out = chat_pb2.ChatStreamResponse(model=state.model)
        kind = delta.get("type")
        if kind == "text_delta":
            out.delta.text = str(delta.get("text") or "")
        elif kind == "thinking_delta":
            out.delta.reasoning = str(delta.get("thinking") or "")
        elif kind == "input_json_delta":
            tool_index = state.tool_calls.get(json_int(data.get("index")))
            if tool_index is None:
                raise malformed_response(self.name, "input_json_delta for a block that is not a tool_use")
            fragment = str(delta.get("partial_json") or "")
            if not fragment:
                return None
            out.delta.tool_calls.append(
                chat_pb2.ToolCallDelta(index=tool_index, arguments_json_fragment=fragment)
            )
        else:
            # signature_delta and citations have no place in a v1 Delta.
            return None
        return out

    def _stream_error(self, data: dict[str, Any]) -> GatewayError:
        error = data.get("error")
        error_type = str(error.get("type") or "") if isinstance(error, dict) else ""
        message = str(error.get("message") or "") if isinstance(error, dict) else str(error)
        metadata = {"provider": self.name}
        if error_type:
            metadata["upstream_code"] = error_type
        return GatewayError(
            grpc.StatusCode.UNAVAILABLE,
            Reason.UPSTREAM_STREAM_ERROR,
            f"provider {self.name!r} reported an error mid-stream ({error_type or 'unknown'}): "
            f"{redact(message, self._secrets)}",
            metadata=metadata,
        )

    async def list_models(self) -> list[str] | None:
        names: list[str] = []
        params: dict[str, str] = {"limit": "1000"}
        while True:
            async with transport_errors(self.name):
                response = await self._http.client.get(_MODELS_PATH, params=params)
            if response.status_code != 200:
                raise self._error(response)
            payload = loads_object(response.content)
            data = payload.get("data") if payload else None
            if not payload or not isinstance(data, list):
                raise malformed_response(self.name, "model list without data")
            names.extend(str(item["id"]) for item in data if isinstance(item, dict) and "id" in item)
            last_id = payload.get("last_id")
            if payload.get("has_more") is not True or not isinstance(last_id, str):
                return names
            params = {"limit": "1000", "after_id": last_id}


def create(settings: ProviderSettings, context: ProviderContext) -> Provider:
    """An Anthropic provider."""
    return AnthropicProvider(settings, context.media)
