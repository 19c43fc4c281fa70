"""The Google Gemini (Generative Language API) protocol: `generateContent` and its SSE stream.

Decisions worth knowing:
- The key travels in the `x-goog-api-key` header, never as `?key=`: URLs end up in logs.
- A stream (`streamGenerateContent?alt=sse`) has no terminator event: it ends when the body ends.
  It counts as complete only if some event carried a `finishReason`; a body that ends before one
  is a cut stream.
- A prompt Gemini blocks (`promptFeedback.blockReason`, no candidates) fails the call with
  CONTENT_FILTERED, as a provider's 400 for a filtered prompt does; a candidate stopped by a
  safety finish reason is an answer with finish reason CONTENT_FILTER.
- An invalid key is a 400 with ErrorInfo reason API_KEY_INVALID: it is mapped as an auth failure.
- Rate limits carry their wait as RetryInfo `retryDelay` in the error body, not as a header.
- Thought signatures are kept in unary answers (as Reasoning parts with a signature, placed before
  the part they were attached to); stream deltas have no field for them, so streams drop them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncGenerator, Mapping
from typing import Any
from urllib.parse import quote

import grpc
import httpx
from httpx_sse import SSEError

from llmgateway.config import ProviderSettings
from llmgateway.errors import GatewayError
from llmgateway.providers.base import Provider, ProviderContext, UpstreamCall
from llmgateway.providers.gemini_request import build_body, synthetic_call_id
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

_DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
_DEFAULT_API_VERSION = "v1beta"
_FILTER_REASONS = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    }
)
_MAX_MODEL_PAGES = 20


def _finish_reason(value: object, called_tools: bool) -> chat_pb2.FinishReason.ValueType:
    if value is None or value == "":
        return chat_pb2.FINISH_REASON_UNSPECIFIED
    if value == "STOP":
        return chat_pb2.FINISH_REASON_TOOL_CALLS if called_tools else chat_pb2.FINISH_REASON_STOP
    if value == "MAX_TOKENS":
        return chat_pb2.FINISH_REASON_LENGTH
    if value in _FILTER_REASONS:
        return chat_pb2.FINISH_REASON_CONTENT_FILTER
    return chat_pb2.FINISH_REASON_OTHER


def _usage(wire: object) -> chat_pb2.Usage | None:
    if not isinstance(wire, dict):
        return None
    reasoning = json_int(wire.get("thoughtsTokenCount"))
    usage = chat_pb2.Usage(
        # Tool-use prompt tokens are prompt tokens Gemini counts apart; thoughts are output it counts apart.
        input_tokens=json_int(wire.get("promptTokenCount")) + json_int(wire.get("toolUsePromptTokenCount")),
        output_tokens=json_int(wire.get("candidatesTokenCount")) + reasoning,
        cached_input_tokens=json_int(wire.get("cachedContentTokenCount")),
        reasoning_tokens=reasoning,
    )
    usage.total_tokens = usage.input_tokens + usage.output_tokens
    return usage


def _details(error: dict[str, Any]) -> list[Any]:
    details = error.get("details")
    return details if isinstance(details, list) else []


def _retry_delay(details: list[Any]) -> float | None:
    for detail in details:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            delay = detail.get("retryDelay")
            if isinstance(delay, str) and delay.endswith("s"):
                try:
                    return max(float(delay[:-1]), 0.0)
                except ValueError:
                    return None
    return None


def _error_reasons(details: list[Any]) -> set[str]:
    return {str(d.get("reason")) for d in details if isinstance(d, dict) and d.get("reason")}


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class GeminiProvider(Provider):
    """A provider speaking the Gemini REST API over one pooled keep-alive client."""

    def __init__(self, settings: ProviderSettings, media: MediaFetcher) -> None:
        super().__init__(settings.name)
        self._settings = settings
        self._media = media
        self._secrets = settings.secrets()
        self._version = settings.api_version or _DEFAULT_API_VERSION
        key = settings.api_key.get_secret_value() if settings.api_key else ""
        headers = {"x-goog-api-key": key} if key else {}
        self._http = UpstreamHttp(settings, settings.base_url or _DEFAULT_BASE_URL, headers)

    async def aclose(self) -> None:
        await self._http.aclose()

    def _path(self, model: str, method: str) -> str:
        return f"/{self._version}/models/{quote(model.removeprefix('models/'), safe='')}:{method}"

    # ---- errors -------------------------------------------------------------------------------

    def _error(self, response: httpx.Response) -> GatewayError:
        body = loads_object(response.content)
        error = body.get("error") if body else None
        headers: dict[str, str] = {k.lower(): v for k, v in response.headers.items()}
        if not isinstance(error, dict):
            message = redact(response.text[:300], self._secrets)
            return error_from_status(self.name, response.status_code, headers, message)
        message = redact(str(error.get("message") or ""), self._secrets)
        status = str(error.get("status") or "")
        details = _details(error)
        delay = _retry_delay(details)
        if delay is not None and "retry-after" not in headers:
            headers["retry-after"] = f"{delay:g}"
        if "API_KEY_INVALID" in _error_reasons(details):
            refused = error_from_status(self.name, 401, headers, message, status)
            return dataclasses.replace(
                refused,
                message=f"provider {self.name!r} refused the gateway's credentials (API_KEY_INVALID)",
                metadata={**refused.metadata, "upstream_status": str(response.status_code)},
            )
        code = status
        if "exceeds the maximum number of tokens" in message:
            code = "context_length_exceeded"
        return error_from_status(self.name, response.status_code, headers, message, code)

    def _stream_error(self, error: object) -> GatewayError:
        if not isinstance(error, dict):
            error = {"message": str(error)}
        details = _details(error)
        message = redact(str(error.get("message") or ""), self._secrets)
        metadata = {"provider": self.name}
        if error.get("status"):
            metadata["upstream_code"] = str(error["status"])
        return GatewayError(
            grpc.StatusCode.UNAVAILABLE,
            Reason.UPSTREAM_STREAM_ERROR,
            f"provider {self.name!r} reported an error mid-stream: {message}",
            metadata=metadata,
            retry_after=_retry_delay(details),
        )

    def _check_blocked(self, payload: Mapping[str, Any]) -> None:
        feedback = payload.get("promptFeedback")
        if isinstance(feedback, dict) and feedback.get("blockReason") and not payload.get("candidates"):
            reason = str(feedback["blockReason"])
            raise error_from_status(
                self.name, 400, {}, f"the prompt was blocked ({reason})", "content_filter"
            )

    def _candidate_parts(self, payload: Mapping[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        candidates = payload.get("candidates")
        if not isinstance(candidates, list) or not candidates or not isinstance(candidates[0], dict):
            return {}, []
        candidate: dict[str, Any] = candidates[0]
        content = candidate.get("content") or {}
        parts = content.get("parts") if isinstance(content, dict) else None
        if parts is None:
            return candidate, []
        if not isinstance(parts, list) or not all(isinstance(p, dict) for p in parts):
            raise malformed_response(self.name, "candidate parts are not a list of objects")
        return candidate, parts

    def _function_call(self, part: dict[str, Any], index: int, salt: str) -> content_pb2.ToolCall:
        call = part["functionCall"]
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            raise malformed_response(self.name, "function call without a name")
        arguments = _compact(call.get("args") or {})
        wire_id = call.get("id")
        call_id = (
            wire_id
            if isinstance(wire_id, str) and wire_id
            else synthetic_call_id(index, call["name"], arguments, salt)
        )
        return content_pb2.ToolCall(id=call_id, name=call["name"], arguments_json=arguments)

    # ---- unary --------------------------------------------------------------------------------

    async def chat(self, call: UpstreamCall) -> chat_pb2.ChatResponse:
        body = await build_body(self.name, call.request, self._media)
        async with transport_errors(self.name):
            response = await self._http.post(
                self._path(call.upstream_model, "generateContent"), content=dumps(body), headers=JSON_CONTENT
            )
        if response.status_code != 200:
            raise self._error(response)
        payload = json_object_body(self.name, response.content)
        self._check_blocked(payload)
        candidate, parts = self._candidate_parts(payload)
        if not candidate:
            raise malformed_response(self.name, "no candidates in the response")
        message = self._message(parts, str(payload.get("responseId") or call.request_id))
        called = any(p.WhichOneof("kind") == "tool_call" for p in message.parts)
        return chat_pb2.ChatResponse(
            model=str(payload.get("modelVersion") or call.upstream_model),
            message=message,
            finish_reason=_finish_reason(candidate.get("finishReason"), called),
            usage=_usage(payload.get("usageMetadata")),
        )

    def _message(self, parts: list[dict[str, Any]], salt: str) -> content_pb2.Message:
        out: list[content_pb2.Part] = []
        calls = 0
        for part in parts:
            signature = part.get("thoughtSignature")
            signature = signature if isinstance(signature, str) else ""
            text = part.get("text")
            if part.get("thought") is True:
                reasoning = content_pb2.Reasoning(
                    text=text if isinstance(text, str) else "", signature=signature
                )
                out.append(content_pb2.Part(reasoning=reasoning))
                continue
            if signature:
                out.append(content_pb2.Part(reasoning=content_pb2.Reasoning(signature=signature)))
            if "functionCall" in part:
                out.append(content_pb2.Part(tool_call=self._function_call(part, calls, salt)))
                calls += 1
            elif isinstance(text, str):
                if out and out[-1].WhichOneof("kind") == "text" and not signature:
                    out[-1].text += text
                else:
                    out.append(content_pb2.Part(text=text))
            # Other part kinds (executable code, ...) belong to tools this adapter never enables.
        return content_pb2.Message(role=content_pb2.ROLE_ASSISTANT, parts=out)

    # ---- streaming ----------------------------------------------------------------------------

    async def stream(self, call: UpstreamCall) -> AsyncGenerator[chat_pb2.ChatStreamResponse, None]:
        body = await build_body(self.name, call.request, self._media)
        timeouts = self._settings.timeouts
        state = _StreamState(salt=call.request_id)
        async with (
            transport_errors(self.name),
            # Read timeouts between events are enforced by `paced`, which tells a slow first token
            # from a stall mid-stream; httpx only bounds connecting and sending.
            self._http.stream(
                self._path(call.upstream_model, "streamGenerateContent"),
                params={"alt": "sse"},
                content=dumps(body),
                headers=JSON_CONTENT,
            ) as response,
        ):
            if response.status_code != 200:
                await self._http.read(response)
                raise self._error(response)
            try:
                async with paced_stream(
                    sse_events(response, self.name, self._settings.max_stream_event_bytes),
                    self.name,
                    timeouts.first_token_s,
                    timeouts.between_tokens_s,
                ) as events:
                    async for event in events:
                        chunk = loads_object(event.data)
                        if chunk is None:
                            raise malformed_response(self.name, "a stream event that is not a JSON object")
                        for message in self._chunk_messages(chunk, state):
                            yield message
            except SSEError:
                raise malformed_response(
                    self.name, f"content type {response.headers.get('content-type')!r} is not an event stream"
                ) from None
        if not state.finished:
            raise stream_cut(self.name, "the body ended before an event with a finishReason")

    def _chunk_messages(
        self, chunk: dict[str, Any], state: _StreamState
    ) -> list[chat_pb2.ChatStreamResponse]:
        if "error" in chunk:
            raise self._stream_error(chunk["error"])
        self._check_blocked(chunk)
        if isinstance(chunk.get("responseId"), str) and not state.salted:
            state.salt, state.salted = chunk["responseId"], True
        model = chunk.get("modelVersion")
        model = model if isinstance(model, str) else ""
        messages: list[chat_pb2.ChatStreamResponse] = []
        candidate, parts = self._candidate_parts(chunk)
        out = chat_pb2.ChatStreamResponse(model=model)
        for part in parts:
            text = part.get("text")
            if "functionCall" in part:
                tool_call = self._function_call(part, state.calls, state.salt)
                # Gemini sends a call whole, so its first fragment is all of its arguments.
                out.delta.tool_calls.append(
                    chat_pb2.ToolCallDelta(
                        index=state.calls,
                        id=tool_call.id,
                        name=tool_call.name,
                        arguments_json_fragment=tool_call.arguments_json,
                    )
                )
                state.calls += 1
            elif isinstance(text, str) and text:
                if part.get("thought") is True:
                    out.delta.reasoning += text
                else:
                    out.delta.text += text
        reason = candidate.get("finishReason") if candidate else None
        if reason:
            state.finished = True
            out.finish_reason = _finish_reason(reason, state.calls > 0)
        if out.HasField("delta") or out.finish_reason:
            messages.append(out)
        usage = _usage(chunk.get("usageMetadata"))
        if usage is not None:
            messages.append(chat_pb2.ChatStreamResponse(model=model, usage=usage))
        return messages

    # ---- models -------------------------------------------------------------------------------

    async def list_models(self) -> list[str] | None:
        names: list[str] = []
        params: dict[str, str] = {"pageSize": "1000"}
        for _ in range(_MAX_MODEL_PAGES):
            async with transport_errors(self.name):
                response = await self._http.client.get(f"/{self._version}/models", params=params)
            if response.status_code != 200:
                raise self._error(response)
            payload = loads_object(response.content)
            models = payload.get("models", []) if payload else None
            if not isinstance(models, list):
                raise malformed_response(self.name, "models is not a list")
            for model in models:
                if not isinstance(model, dict) or not isinstance(model.get("name"), str):
                    continue
                methods = model.get("supportedGenerationMethods")
                if isinstance(methods, list) and "generateContent" not in methods:
                    continue
                names.append(model["name"].removeprefix("models/"))
            token = payload.get("nextPageToken") if payload else None
            if not isinstance(token, str) or not token:
                break
            params["pageToken"] = token
        return names


@dataclasses.dataclass
class _StreamState:
    salt: str
    salted: bool = False
    calls: int = 0
    finished: bool = False


def create(settings: ProviderSettings, context: ProviderContext) -> Provider:
    """A Gemini provider."""
    return GeminiProvider(settings, context.media)
