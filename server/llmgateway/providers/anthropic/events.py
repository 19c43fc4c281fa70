"""An Anthropic Messages stream (named SSE events, ending with `message_stop`) as v1 messages."""

from __future__ import annotations

from typing import Any

from llmgateway.providers.adapter import StreamEvents
from llmgateway.providers.anthropic.errors import AnthropicErrors
from llmgateway.providers.anthropic.response import STOP_REASONS, UsageTotals
from llmgateway.providers.base import UpstreamCall
from llmgateway.providers.http.framing import SseEvent
from llmgateway.providers.wire_json import json_int
from llmgateway.reasoning.origin import ANTHROPIC
from llmgateway.v1 import chat_pb2


class AnthropicEvents(StreamEvents[SseEvent]):
    errors: AnthropicErrors

    def __init__(self, errors: AnthropicErrors, call: UpstreamCall) -> None:
        super().__init__(errors, call)
        self._usage = UsageTotals()

    def missing(self) -> str:
        return "no message_stop event"

    def messages(self, event: SseEvent) -> list[chat_pb2.ChatStreamResponse]:
        data = self.json_object(event.data, "a stream event that is not a JSON object")
        kind = data.get("type") or event.event
        if kind == "message_stop":
            self.state.terminate()
            return []
        message = self._message(str(kind), data)
        return [] if message is None else [message]

    def _message(self, kind: str, data: dict[str, Any]) -> chat_pb2.ChatStreamResponse | None:
        """The stream message for one event, if it carries anything; unknown events are skipped,
        as the API may add event types within a version."""
        if kind == "message_start":
            message = data.get("message")
            if not isinstance(message, dict):
                raise self.errors.malformed("message_start without a message")
            self.state.model = str(message.get("model") or "")
            self._usage.update(message.get("usage"))
            return chat_pb2.ChatStreamResponse(model=self.state.model, usage=self._usage.proto())
        if kind == "content_block_start":
            return self._block_start(data)
        if kind == "content_block_delta":
            return self._block_delta(data)
        if kind == "message_delta":
            self._usage.update(data.get("usage"))
            delta = data.get("delta")
            stop_reason = delta.get("stop_reason") if isinstance(delta, dict) else None
            return chat_pb2.ChatStreamResponse(
                model=self.state.model, finish_reason=STOP_REASONS(stop_reason), usage=self._usage.proto()
            )
        if kind == "error":
            raise self.errors.from_event(data)
        return None

    def _block_start(self, data: dict[str, Any]) -> chat_pb2.ChatStreamResponse | None:
        block = data.get("content_block")
        if not isinstance(block, dict):
            raise self.errors.malformed("content_block_start without a content_block")
        kind = block.get("type")
        if kind == "redacted_thinking":
            # Redacted thinking comes whole in its start event.
            if not isinstance(block.get("data"), str):
                raise self.errors.malformed("a redacted_thinking block without data")
            out = chat_pb2.ChatStreamResponse()
            out.model = self.state.model
            out.delta.reasoning_index = self.state.reasoning_index(json_int(data.get("index")))
            out.delta.reasoning_redacted_data = block["data"]
            out.delta.reasoning_origin = ANTHROPIC
            return out
        if kind == "thinking":
            self.state.reasoning_index(json_int(data.get("index")))
            return None  # it starts empty: its deltas carry the thinking and the signature
        if kind != "tool_use":
            return None  # text blocks start empty too
        if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
            raise self.errors.malformed("a tool_use block without id or name")
        # Tool calls count from 0 on their own, whatever their content block's index.
        index = self.state.start_tool_call(json_int(data.get("index")))
        out = chat_pb2.ChatStreamResponse()
        out.model = self.state.model
        out.delta.tool_calls.append(chat_pb2.ToolCallDelta(index=index, id=block["id"], name=block["name"]))
        return out

    def _block_delta(self, data: dict[str, Any]) -> chat_pb2.ChatStreamResponse | None:
        delta = data.get("delta")
        if not isinstance(delta, dict):
            raise self.errors.malformed("content_block_delta without a delta")
        out = chat_pb2.ChatStreamResponse()  # fields set one by one: see openai_compat/events.py
        out.model = self.state.model
        kind = delta.get("type")
        if kind == "text_delta":
            out.delta.text = str(delta.get("text") or "")
        elif kind == "thinking_delta":
            out.delta.reasoning_index = self.state.reasoning_index(json_int(data.get("index")))
            out.delta.reasoning = str(delta.get("thinking") or "")
        elif kind == "signature_delta":
            out.delta.reasoning_index = self.state.reasoning_index(json_int(data.get("index")))
            out.delta.reasoning_signature = str(delta.get("signature") or "")
            out.delta.reasoning_origin = ANTHROPIC
        elif kind == "input_json_delta":
            index = self.state.tool_calls.get(json_int(data.get("index")))
            if index is None:
                raise self.errors.malformed("input_json_delta for a block that is not a tool_use")
            fragment = str(delta.get("partial_json") or "")
            if not fragment:
                return None
            out.delta.tool_calls.append(chat_pb2.ToolCallDelta(index=index, arguments_json_fragment=fragment))
        else:
            # Citations have no place in a v1 Delta.
            return None
        return out
