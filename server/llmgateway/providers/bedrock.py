"""The AWS Bedrock Converse API: `/model/{modelId}/converse` and `/converse-stream`.

Requests are SigV4-signed by botocore (service `bedrock`) and sent, exactly as signed, over the
provider's pooled httpx client; stream bodies are AWS event-stream frames decoded by botocore.
Credentials come from the provider settings, else from botocore's standard chain (environment,
shared files, SSO, container and instance roles); refreshable ones are re-read for every request.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import quote

import botocore.session
import grpc
import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, RefreshableCredentials
from botocore.eventstream import EventStreamBuffer, EventStreamMessage, MessagePrelude, ParserError
from botocore.exceptions import BotoCoreError

from llmgateway.config import ProviderSettings
from llmgateway.errors import GatewayError
from llmgateway.providers.base import Provider, ProviderContext, UpstreamCall
from llmgateway.providers.bedrock_request import build_body
from llmgateway.providers.media import MediaFetcher
from llmgateway.providers.pacing import paced_stream
from llmgateway.providers.stream_framing import event_too_large
from llmgateway.providers.upstream_http import (
    UpstreamHttp,
    error_from_status,
    json_object_body,
    malformed_response,
    redact,
    stream_cut,
    transport_errors,
)
from llmgateway.providers.wire_json import dumps, json_int, loads_object, mapped_finish_reason
from llmgateway.reasons import Reason
from llmgateway.v1 import chat_pb2, content_pb2

_SERVICE = "bedrock"
_EVENT_STREAM = "application/vnd.amazon.eventstream"
_FINISH_REASONS = {
    "end_turn": chat_pb2.FINISH_REASON_STOP,
    "stop_sequence": chat_pb2.FINISH_REASON_STOP,
    "max_tokens": chat_pb2.FINISH_REASON_LENGTH,
    "model_context_window_exceeded": chat_pb2.FINISH_REASON_LENGTH,
    "tool_use": chat_pb2.FINISH_REASON_TOOL_CALLS,
    "guardrail_intervened": chat_pb2.FINISH_REASON_CONTENT_FILTER,
    "content_filtered": chat_pb2.FINISH_REASON_CONTENT_FILTER,
}
# Error types that say "the service or model is not able to answer now" whatever their status:
# ModelNotReadyException comes as a 429 but is not a rate limit, ModelErrorException as a 424.
_UNAVAILABLE_TYPES = frozenset({"ModelNotReadyException", "ModelErrorException"})


def _finish_reason(value: object) -> chat_pb2.FinishReason.ValueType:
    return mapped_finish_reason(_FINISH_REASONS, value)


def _usage(wire: object) -> chat_pb2.Usage:
    if not isinstance(wire, dict):
        return chat_pb2.Usage()
    cached = json_int(wire.get("cacheReadInputTokens"))
    # Bedrock's inputTokens leaves out tokens read from or written to the prompt cache; ours
    # counts every prompt token.
    usage = chat_pb2.Usage(
        input_tokens=json_int(wire.get("inputTokens")) + cached + json_int(wire.get("cacheWriteInputTokens")),
        output_tokens=json_int(wire.get("outputTokens")),
        cached_input_tokens=cached,
    )
    usage.total_tokens = usage.input_tokens + usage.output_tokens
    return usage


def _tool_use_id(wire_id: object) -> str:
    if isinstance(wire_id, str) and wire_id:
        return wire_id
    return f"tooluse_{uuid.uuid4().hex[:22]}"


def _error_type(headers: Mapping[str, str], body: dict[str, Any] | None) -> str:
    """`x-amzn-errortype` is "Name:namespace-url"; some front ends only put "ns#Name" in `__type`."""
    raw = headers.get("x-amzn-errortype") or (str(body.get("__type") or "") if body else "")
    return raw.split(":", 1)[0].rsplit("#", 1)[-1]


def _frame_headers(frame: EventStreamMessage) -> Mapping[str, object]:
    # botocore-stubs declare `headers` as int; botocore fills it with the decoded header dict.
    return cast(Mapping[str, object], frame.headers)


def _is_context_overflow(message: str) -> bool:
    lowered = message.lower()
    return "too long" in lowered or "context window" in lowered or "too many input tokens" in lowered


@dataclass
class _StreamState:
    """What a stream has shown so far."""

    tool_calls: dict[int, int] = field(default_factory=dict)  # content block index → call index
    stopped: bool = False
    finished: bool = False


class BedrockProvider(Provider):
    """A provider speaking Bedrock Converse with SigV4 over one pooled keep-alive client."""

    def __init__(self, settings: ProviderSettings, context: ProviderContext) -> None:
        super().__init__(settings.name)
        self._settings = settings
        self._media: MediaFetcher = context.media
        self._session = botocore.session.Session(profile=settings.aws_profile)
        # botocore itself only reads AWS_DEFAULT_REGION and the profile; the other AWS SDKs read
        # AWS_REGION first, and so does the gateway.
        region = (
            settings.region or os.environ.get("AWS_REGION") or self._session.get_config_variable("region")
        )
        if not region:
            raise ValueError(
                f"provider {settings.name!r}: set `region` (or AWS_REGION / AWS_DEFAULT_REGION) for bedrock"
            )
        self._region: str = region
        self._endpoint = settings.base_url or f"https://bedrock-runtime.{region}.amazonaws.com"
        self._secrets = settings.secrets()
        self._credentials: Credentials | None = self._static_credentials(settings)
        self._credentials_lock = asyncio.Lock()
        self._http = UpstreamHttp(settings, self._endpoint, {})

    @staticmethod
    def _static_credentials(settings: ProviderSettings) -> Credentials | None:
        if settings.aws_access_key_id is None or settings.aws_secret_access_key is None:
            return None
        token = settings.aws_session_token.get_secret_value() if settings.aws_session_token else None
        return Credentials(
            settings.aws_access_key_id.get_secret_value(),
            settings.aws_secret_access_key.get_secret_value(),
            token,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    # ---- credentials and signing ------------------------------------------------------------

    def _no_credentials(self, cause: str = "") -> GatewayError:
        detail = f" ({cause})" if cause else ""
        return GatewayError(
            grpc.StatusCode.UNAVAILABLE,
            Reason.UPSTREAM_AUTH_FAILED,
            f"provider {self.name!r} has no usable AWS credentials from its settings or the standard chain"
            f"{detail}",
            metadata={"provider": self.name},
        )

    async def _frozen_credentials(self) -> Credentials:
        """A fixed snapshot for one signature: refreshable credentials may rotate between calls."""
        try:
            credentials = self._credentials
            if credentials is None:
                async with self._credentials_lock:
                    if self._credentials is None:
                        # The chain may call the instance metadata service: keep it off the loop.
                        self._credentials = await asyncio.to_thread(self._session.get_credentials)
                    credentials = self._credentials
            if credentials is None:
                raise self._no_credentials()
            if isinstance(credentials, RefreshableCredentials) and credentials.refresh_needed():
                frozen = await asyncio.to_thread(credentials.get_frozen_credentials)
            else:
                frozen = credentials.get_frozen_credentials()
        except BotoCoreError as error:
            # The text can name files, roles or SSO sessions; the type says enough.
            raise self._no_credentials(type(error).__name__) from error
        if not frozen.access_key or not frozen.secret_key:
            raise self._no_credentials()
        # Credentials from the chain are secrets too, and they rotate.
        self._secrets = [
            *self._settings.secrets(),
            frozen.secret_key,
            *([frozen.token] if frozen.token else []),
        ]
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token)

    async def _signed(
        self, model_id: str, action: str, body: dict[str, Any]
    ) -> tuple[str, bytes, dict[str, str]]:
        """(path, body bytes, headers) signed for `action` ("converse" or "converse-stream")."""
        frozen = await self._frozen_credentials()
        # Model ids hold ':' (and ARNs '/'): the path carries them percent-encoded, and the
        # signature covers that same encoded path.
        path = f"/model/{quote(model_id, safe='')}/{action}"
        content = dumps(body)
        accept = _EVENT_STREAM if action == "converse-stream" else "application/json"
        request = AWSRequest(
            method="POST",
            url=self._endpoint + path,
            data=content,
            headers={**self._settings.headers, "Content-Type": "application/json", "Accept": accept},
        )
        SigV4Auth(frozen, _SERVICE, self._region).add_auth(request)
        return path, content, dict(request.headers.items())

    def _redact(self, text: str) -> str:
        return redact(text, self._secrets)

    # ---- errors -------------------------------------------------------------------------------

    def _error(self, response: httpx.Response) -> GatewayError:
        body = loads_object(response.content)
        error_type = _error_type(response.headers, body)
        message = str((body.get("message") or body.get("Message") or "") if body else response.text[:300])
        message = self._redact(message)
        status = response.status_code
        if error_type in _UNAVAILABLE_TYPES:
            return GatewayError(
                grpc.StatusCode.UNAVAILABLE,
                Reason.UPSTREAM_UNAVAILABLE,
                f"provider {self.name!r} failed ({error_type}, HTTP {status}): {message}",
                metadata={"provider": self.name, "upstream_status": str(status), "upstream_code": error_type},
                retry_after=1.0 if error_type == "ModelNotReadyException" else None,
            )
        code = error_type
        if error_type == "ValidationException" and _is_context_overflow(message):
            code = "context_length_exceeded"
        return error_from_status(self.name, status, response.headers, message, code)

    def _stream_exception(self, message: EventStreamMessage) -> GatewayError:
        headers = _frame_headers(message)
        if headers.get(":message-type") == "error":
            kind = str(headers.get(":error-code") or "error")
            text = str(headers.get(":error-message") or "")
        else:
            kind = str(headers.get(":exception-type") or "exception")
            payload = loads_object(message.payload)
            text = str((payload.get("message") or payload.get("Message") or "") if payload else "")
        text = self._redact(text)
        metadata = {"provider": self.name, "upstream_code": kind}
        if kind == "throttlingException":
            return GatewayError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                Reason.UPSTREAM_RATE_LIMITED,
                f"provider {self.name!r} is rate limiting ({kind}): {text}",
                metadata=metadata,
                retry_after=1.0,
            )
        return GatewayError(
            grpc.StatusCode.UNAVAILABLE,
            Reason.UPSTREAM_STREAM_ERROR,
            f"provider {self.name!r} reported an error mid-stream ({kind}): {text}",
            metadata=metadata,
        )

    # ---- unary ------------------------------------------------------------------------------

    async def chat(self, call: UpstreamCall) -> chat_pb2.ChatResponse:
        body = await build_body(self.name, call.request, call.upstream_model, self._media)
        path, content, headers = await self._signed(call.upstream_model, "converse", body)
        async with transport_errors(self.name):
            response = await self._http.post(path, content=content, headers=headers)
        if response.status_code != 200:
            raise self._error(response)
        payload = json_object_body(self.name, response.content)
        output = payload.get("output")
        message = output.get("message") if isinstance(output, dict) else None
        if not payload or not isinstance(message, dict) or not isinstance(message.get("content"), list):
            raise malformed_response(self.name, "no output.message.content in the Converse response")
        return chat_pb2.ChatResponse(
            model=call.upstream_model,
            message=self._message(message["content"]),
            finish_reason=_finish_reason(payload.get("stopReason")),
            usage=_usage(payload.get("usage")),
        )

    def _message(self, blocks: list[Any]) -> content_pb2.Message:
        parts: list[content_pb2.Part] = []
        for block in blocks:
            if not isinstance(block, dict):
                raise malformed_response(self.name, "a content block that is not an object")
            part = self._part(block)
            if part is not None:
                parts.append(part)
        return content_pb2.Message(role=content_pb2.ROLE_ASSISTANT, parts=parts)

    def _part(self, block: dict[str, Any]) -> content_pb2.Part | None:
        if isinstance(block.get("text"), str):
            return content_pb2.Part(text=block["text"])
        tool_use = block.get("toolUse")
        if isinstance(tool_use, dict):
            if not isinstance(tool_use.get("name"), str):
                raise malformed_response(self.name, "toolUse without a name")
            return content_pb2.Part(
                tool_call=content_pb2.ToolCall(
                    id=_tool_use_id(tool_use.get("toolUseId")),
                    name=tool_use["name"],
                    arguments_json=json.dumps(tool_use.get("input") or {}, ensure_ascii=False),
                )
            )
        reasoning = block.get("reasoningContent")
        if isinstance(reasoning, dict) and isinstance(reasoning.get("reasoningText"), dict):
            text = reasoning["reasoningText"]
            return content_pb2.Part(
                reasoning=content_pb2.Reasoning(
                    text=str(text.get("text") or ""), signature=str(text.get("signature") or "")
                )
            )
        # Other blocks (citations, redacted reasoning, …) have no v1 form.
        return None

    # ---- streaming --------------------------------------------------------------------------

    async def stream(self, call: UpstreamCall) -> AsyncGenerator[chat_pb2.ChatStreamResponse, None]:
        body = await build_body(self.name, call.request, call.upstream_model, self._media)
        path, content, headers = await self._signed(call.upstream_model, "converse-stream", body)
        timeouts = self._settings.timeouts
        state = _StreamState()
        async with (
            transport_errors(self.name),
            # Gaps between frames are bounded by `paced`; httpx only bounds connecting and sending.
            self._http.stream(
                path,
                content=content,
                headers=headers,
            ) as response,
        ):
            if response.status_code != 200:
                await self._http.read(response)
                raise self._error(response)
            content_type = response.headers.get("content-type", "")
            if not content_type.startswith(_EVENT_STREAM):
                raise malformed_response(self.name, f"content type {content_type!r} is not an event stream")
            async with paced_stream(
                self._frames(response), self.name, timeouts.first_token_s, timeouts.between_tokens_s
            ) as frames:
                async for frame in frames:
                    for item in self._frame_messages(frame, state):
                        yield item
                    if state.finished:
                        return
        raise stream_cut(
            self.name, "no messageStop and metadata events" if not state.stopped else "no metadata"
        )

    async def _frames(self, response: httpx.Response) -> AsyncIterator[EventStreamMessage]:
        """The event-stream frames of `response`, failing once a frame being assembled passes
        `max_stream_event_bytes`. botocore's buffer has no cap of its own below 24 MiB of payload,
        so the bytes it holds (received, not yet decoded into frames) are counted here."""
        limit = self._settings.max_stream_event_bytes
        buffer = EventStreamBuffer()
        held = 0
        try:
            async for chunk in response.aiter_raw():
                buffer.add_data(chunk)
                held += len(chunk)
                for message in buffer:
                    # botocore-stubs types `prelude` as int; it is the frame's MessagePrelude.
                    size = cast(MessagePrelude, message.prelude).total_length
                    if size > limit:
                        raise event_too_large(self.name, "an event-stream frame", limit)
                    held -= size
                    yield message
                if held > limit:
                    raise event_too_large(self.name, "an event-stream frame", limit)
        except ParserError as error:
            raise malformed_response(
                self.name, f"undecodable event-stream frame ({type(error).__name__})"
            ) from None

    def _frame_messages(
        self, frame: EventStreamMessage, state: _StreamState
    ) -> list[chat_pb2.ChatStreamResponse]:
        headers = _frame_headers(frame)
        if headers.get(":message-type") != "event":
            raise self._stream_exception(frame)
        event = headers.get(":event-type")
        payload = loads_object(frame.payload)
        if payload is None:
            raise malformed_response(self.name, f"{event} event without a JSON object payload")
        if event == "contentBlockStart":
            return self._block_start(payload, state)
        if event == "contentBlockDelta":
            return self._block_delta(payload, state)
        if event == "messageStop":
            state.stopped = True
            return [chat_pb2.ChatStreamResponse(finish_reason=_finish_reason(payload.get("stopReason")))]
        if event == "metadata":
            # The last frame of every Converse stream; before messageStop it would mean a cut.
            state.finished = state.stopped
            return [chat_pb2.ChatStreamResponse(usage=_usage(payload.get("usage")))]
        # messageStart, contentBlockStop and any newer event carry nothing for the caller.
        return []

    def _block_start(self, payload: dict[str, Any], state: _StreamState) -> list[chat_pb2.ChatStreamResponse]:
        start = payload.get("start")
        tool_use = start.get("toolUse") if isinstance(start, dict) else None
        if not isinstance(tool_use, dict):
            return []
        index = len(state.tool_calls)
        state.tool_calls[json_int(payload.get("contentBlockIndex"))] = index
        out = chat_pb2.ChatStreamResponse()
        out.delta.tool_calls.append(
            chat_pb2.ToolCallDelta(
                index=index, id=_tool_use_id(tool_use.get("toolUseId")), name=str(tool_use.get("name") or "")
            )
        )
        return [out]

    def _block_delta(self, payload: dict[str, Any], state: _StreamState) -> list[chat_pb2.ChatStreamResponse]:
        delta = payload.get("delta")
        if not isinstance(delta, dict):
            raise malformed_response(self.name, "contentBlockDelta without a delta object")
        out = chat_pb2.ChatStreamResponse()
        if isinstance(delta.get("text"), str):
            out.delta.text = delta["text"]
        tool_use = delta.get("toolUse")
        if isinstance(tool_use, dict):
            block = json_int(payload.get("contentBlockIndex"))
            if block not in state.tool_calls:
                raise malformed_response(self.name, "toolUse delta for a block that never started")
            out.delta.tool_calls.append(
                chat_pb2.ToolCallDelta(
                    index=state.tool_calls[block], arguments_json_fragment=str(tool_use.get("input") or "")
                )
            )
        reasoning = delta.get("reasoningContent")
        if isinstance(reasoning, dict) and isinstance(reasoning.get("text"), str):
            out.delta.reasoning = reasoning["text"]
        return [out] if out.HasField("delta") else []


def create(settings: ProviderSettings, context: ProviderContext) -> Provider:
    """A Bedrock Converse provider."""
    return BedrockProvider(settings, context)
