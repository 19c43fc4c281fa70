"""The OpenAI Chat Completions protocol: OpenAI itself, vLLM and Together with their dialects, and
(configured by the azure_openai module) Azure OpenAI. One implementation of the wire; what differs
between those servers is an `OpenAIWire`."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote

import grpc
import httpx
from httpx_sse import SSEError

from llmgateway.config import ProviderSettings
from llmgateway.errors import GatewayError
from llmgateway.providers.base import Provider, ProviderContext, UpstreamCall
from llmgateway.providers.openai_request import OpenAIDialect, build_body
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
from llmgateway.providers.wire_json import JSON_CONTENT, dumps, json_int, loads_object, mapped_finish_reason
from llmgateway.reasons import Reason
from llmgateway.v1 import chat_pb2, content_pb2

_DEFAULT_BASE_URLS = {
    "openai": "https://api.openai.com",
    "vllm": "http://localhost:8000",
    "together": "https://api.together.xyz",
}
_DIALECTS = {
    "openai": OpenAIDialect(),
    "vllm": OpenAIDialect(max_tokens_field="max_tokens", supports_top_k=True, supports_developer_role=False),
    "together": OpenAIDialect(
        max_tokens_field="max_tokens", supports_top_k=True, supports_developer_role=False
    ),
}
_CONTEXT_MESSAGE = "maximum context length"
_FINISH_REASONS = {
    "stop": chat_pb2.FINISH_REASON_STOP,
    "length": chat_pb2.FINISH_REASON_LENGTH,
    "tool_calls": chat_pb2.FINISH_REASON_TOOL_CALLS,
    "function_call": chat_pb2.FINISH_REASON_TOOL_CALLS,
    "content_filter": chat_pb2.FINISH_REASON_CONTENT_FILTER,
}


def _finish_reason(value: object) -> chat_pb2.FinishReason.ValueType:
    return mapped_finish_reason(_FINISH_REASONS, value)


def _usage(wire: object) -> chat_pb2.Usage:
    if not isinstance(wire, dict):
        return chat_pb2.Usage()
    prompt_details = wire.get("prompt_tokens_details") or {}
    completion_details = wire.get("completion_tokens_details") or {}
    usage = chat_pb2.Usage(
        input_tokens=json_int(wire.get("prompt_tokens")),
        output_tokens=json_int(wire.get("completion_tokens")),
        cached_input_tokens=json_int(prompt_details.get("cached_tokens"))
        if isinstance(prompt_details, dict)
        else 0,
        reasoning_tokens=json_int(completion_details.get("reasoning_tokens"))
        if isinstance(completion_details, dict)
        else 0,
    )
    usage.total_tokens = json_int(wire.get("total_tokens")) or usage.input_tokens + usage.output_tokens
    return usage


def _reasoning_text(wire: dict[str, Any]) -> str:
    # vLLM and DeepSeek-style servers put reasoning in `reasoning_content` (newer vLLM: `reasoning`).
    value = wire.get("reasoning_content") or wire.get("reasoning")
    return value if isinstance(value, str) else ""


def _tool_call_id(wire_id: object) -> str:
    """The provider's id, or a synthesised one: callers need an id to send the result back."""
    if isinstance(wire_id, str) and wire_id:
        return wire_id
    return f"call_{uuid.uuid4().hex[:24]}"


@dataclass(frozen=True)
class OpenAIWire:
    """Where one OpenAI-compatible server lives and how it is spoken to: the parts that differ
    between OpenAI, Azure OpenAI, vLLM and Together."""

    base_url: str
    dialect: OpenAIDialect
    auth_headers: Mapping[str, str] = field(default_factory=dict)
    # `{model}` is replaced by the URL-quoted upstream model (Azure: the deployment name).
    chat_path: str = "/v1/chat/completions"
    # Sent with every request (Azure: api-version).
    query: Mapping[str, str] = field(default_factory=dict)
    # None where the server cannot list what it serves in a way callers can use.
    models_path: str | None = "/v1/models"


def dialect_for(settings: ProviderSettings, dialect: OpenAIDialect) -> OpenAIDialect:
    """The dialect with the configured output-token field, when the config names one."""
    if settings.max_tokens_field:
        return replace(dialect, max_tokens_field=settings.max_tokens_field)
    return dialect


def _model_ids(provider: str, content: bytes) -> list[str]:
    try:
        payload = json.loads(content)
    except ValueError:
        raise malformed_response(provider, "the model list is not JSON") from None
    # OpenAI and vLLM wrap the list as {"object": "list", "data": [...]}; Together sends a bare array.
    entries = payload.get("data") if isinstance(payload, dict) else payload
    if not isinstance(entries, list):
        raise malformed_response(provider, "the model list has no data array")
    ids = [entry.get("id") for entry in entries if isinstance(entry, dict)]
    if len(ids) != len(entries) or not all(isinstance(i, str) and i for i in ids):
        raise malformed_response(provider, "a model list entry without an id")
    return [str(i) for i in ids]


class OpenAICompatProvider(Provider):
    """A provider speaking OpenAI Chat Completions over one pooled keep-alive client."""

    def __init__(self, settings: ProviderSettings, wire: OpenAIWire) -> None:
        super().__init__(settings.name)
        self._settings = settings
        self._wire = wire
        self._dialect = wire.dialect
        self._secrets = settings.secrets()
        self._http = UpstreamHttp(settings, wire.base_url, wire.auth_headers)

    async def aclose(self) -> None:
        await self._http.aclose()

    def _chat_path(self, call: UpstreamCall) -> str:
        return self._wire.chat_path.format(model=quote(call.upstream_model, safe=""))

    def _error(self, response: httpx.Response) -> GatewayError:
        body = loads_object(response.content)
        error = body.get("error") if body else None
        if body and body.get("object") == "error":
            # Older vLLM answers with the error fields at the top level.
            error = body
        if isinstance(error, dict):
            message = str(error.get("message") or "")
            code = str(error.get("code") or error.get("type") or "")
        else:
            message, code = response.text[:300], ""
        if response.status_code == 400 and _CONTEXT_MESSAGE in message.lower():
            # vLLM (and older OpenAI) say it only in the message, with code 400 / BadRequestError.
            code = "context_length_exceeded"
        return error_from_status(
            self.name, response.status_code, response.headers, redact(message, self._secrets), code
        )

    async def list_models(self) -> list[str] | None:
        """The ids from GET /v1/models; errors map like chat errors."""
        if self._wire.models_path is None:
            return None
        async with transport_errors(self.name):
            response = await self._http.client.get(self._wire.models_path, params=dict(self._wire.query))
        if response.status_code != 200:
            raise self._error(response)
        return _model_ids(self.name, response.content)

    async def chat(self, call: UpstreamCall) -> chat_pb2.ChatResponse:
        body = build_body(self.name, call.request, call.upstream_model, self._dialect, stream=False)
        async with transport_errors(self.name):
            response = await self._http.post(
                self._chat_path(call),
                content=dumps(body),
                headers=JSON_CONTENT,
                params=dict(self._wire.query),
            )
        if response.status_code != 200:
            raise self._error(response)
        payload = json_object_body(self.name, response.content)
        choices = payload.get("choices")
        if not payload or not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise malformed_response(self.name, "no choices in the completion")
        message = choices[0].get("message")
        if not isinstance(message, dict):
            raise malformed_response(self.name, "choice without a message")
        return chat_pb2.ChatResponse(
            model=str(payload.get("model") or call.upstream_model),
            message=self._message(message),
            finish_reason=_finish_reason(choices[0].get("finish_reason")),
            usage=_usage(payload.get("usage")),
        )

    def _message(self, wire: dict[str, Any]) -> content_pb2.Message:
        parts: list[content_pb2.Part] = []
        reasoning = _reasoning_text(wire)
        if reasoning:
            parts.append(content_pb2.Part(reasoning=content_pb2.Reasoning(text=reasoning)))
        text = wire.get("content")
        if isinstance(text, str) and text:
            parts.append(content_pb2.Part(text=text))
        elif isinstance(wire.get("refusal"), str):
            parts.append(content_pb2.Part(text=wire["refusal"]))
        tool_calls = wire.get("tool_calls") or []
        if not isinstance(tool_calls, list):
            raise malformed_response(self.name, "tool_calls is not a list")
        for tool_call in tool_calls:
            function = tool_call.get("function") if isinstance(tool_call, dict) else None
            if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                raise malformed_response(self.name, "tool call without a function name")
            arguments = function.get("arguments")
            parts.append(
                content_pb2.Part(
                    tool_call=content_pb2.ToolCall(
                        id=_tool_call_id(tool_call.get("id")),
                        name=function["name"],
                        arguments_json=arguments if isinstance(arguments, str) else json.dumps(arguments),
                    )
                )
            )
        return content_pb2.Message(role=content_pb2.ROLE_ASSISTANT, parts=parts)

    async def stream(self, call: UpstreamCall) -> AsyncGenerator[chat_pb2.ChatStreamResponse, None]:
        body = build_body(self.name, call.request, call.upstream_model, self._dialect, stream=True)
        timeouts = self._settings.timeouts
        async with (
            transport_errors(self.name),
            # Read timeouts between events are enforced by `paced`, which tells a slow first token
            # from a stall mid-stream; httpx only bounds connecting and sending.
            self._http.stream(
                self._chat_path(call),
                content=dumps(body),
                headers=JSON_CONTENT,
                params=dict(self._wire.query),
            ) as response,
        ):
            if response.status_code != 200:
                await self._http.read(response)
                raise self._error(response)
            started_calls: set[int] = set()  # tool-call indexes whose first fragment was seen
            try:
                async with paced_stream(
                    sse_events(response, self.name, self._settings.max_stream_event_bytes),
                    self.name,
                    timeouts.first_token_s,
                    timeouts.between_tokens_s,
                ) as events:
                    async for event in events:
                        if event.data == "[DONE]":
                            return
                        chunk = loads_object(event.data)
                        if chunk is None:
                            raise malformed_response(self.name, "a stream event that is not a JSON object")
                        for message in self._chunk_messages(chunk, started_calls):
                            yield message
            except SSEError:
                raise malformed_response(
                    self.name, f"content type {response.headers.get('content-type')!r} is not an event stream"
                ) from None
        raise stream_cut(self.name, "no [DONE] event")

    def _chunk_messages(
        self, chunk: dict[str, Any], started_calls: set[int]
    ) -> list[chat_pb2.ChatStreamResponse]:
        error = chunk.get("error")
        if error is not None:
            message = str(error.get("message") if isinstance(error, dict) else error)
            raise GatewayError(
                grpc.StatusCode.UNAVAILABLE,
                Reason.UPSTREAM_STREAM_ERROR,
                f"provider {self.name!r} reported an error mid-stream: {redact(message, self._secrets)}",
                metadata={"provider": self.name},
            )
        messages: list[chat_pb2.ChatStreamResponse] = []
        model = chunk.get("model")
        if not isinstance(model, str):
            model = ""
        choices = chunk.get("choices") or []
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            choice = choices[0]
            delta = choice.get("delta") or {}
            if not isinstance(delta, dict):
                raise malformed_response(self.name, "delta is not an object")
            out = chat_pb2.ChatStreamResponse(model=model)
            text = delta.get("content")
            if isinstance(text, str) and text:
                out.delta.text = text
            reasoning = _reasoning_text(delta)
            if reasoning:
                out.delta.reasoning = reasoning
            for fragment in delta.get("tool_calls") or []:
                if not isinstance(fragment, dict):
                    raise malformed_response(self.name, "tool call fragment is not an object")
                function = fragment.get("function") or {}
                index = json_int(fragment.get("index"))
                first = index not in started_calls
                started_calls.add(index)
                out.delta.tool_calls.append(
                    chat_pb2.ToolCallDelta(
                        index=index,
                        id=_tool_call_id(fragment.get("id")) if first else "",
                        name=function.get("name") or "",
                        arguments_json_fragment=function.get("arguments") or "",
                    )
                )
            out.finish_reason = _finish_reason(choice.get("finish_reason"))
            messages.append(out)
        if isinstance(chunk.get("usage"), dict):
            messages.append(chat_pb2.ChatStreamResponse(model=model, usage=_usage(chunk["usage"])))
        return messages


def create(settings: ProviderSettings, context: ProviderContext) -> Provider:
    """An OpenAI, vLLM or Together provider."""
    key = settings.api_key.get_secret_value() if settings.api_key else ""
    wire = OpenAIWire(
        base_url=settings.base_url or _DEFAULT_BASE_URLS[settings.type],
        dialect=dialect_for(settings, _DIALECTS[settings.type]),
        # vLLM runs without a key unless started with --api-key.
        auth_headers={"authorization": f"Bearer {key}"} if key else {},
    )
    return OpenAICompatProvider(settings, wire)
