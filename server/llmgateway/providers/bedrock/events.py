"""A Converse stream (AWS event-stream frames) as v1 messages. Its last frame is `metadata`, after
`messageStop`; before it, a `metadata` would mean a cut."""

from __future__ import annotations

from typing import Any

from botocore.eventstream import EventStreamMessage

from llmgateway.providers.adapter import StreamEvents
from llmgateway.providers.base import UpstreamCall
from llmgateway.providers.bedrock.errors import BedrockErrors, frame_headers
from llmgateway.providers.bedrock.response import STOP_REASONS, tool_use_id, wire_usage
from llmgateway.providers.wire_json import json_int
from llmgateway.reasoning.origin import BEDROCK
from llmgateway.v1 import chat_pb2


class BedrockEvents(StreamEvents[EventStreamMessage]):
    errors: BedrockErrors

    def __init__(self, errors: BedrockErrors, call: UpstreamCall) -> None:
        super().__init__(errors, call)
        self._stopped = False  # messageStop came

    def missing(self) -> str:
        return "no metadata" if self._stopped else "no messageStop and metadata events"

    def messages(self, event: EventStreamMessage) -> list[chat_pb2.ChatStreamResponse]:
        headers = frame_headers(event)
        if headers.get(":message-type") != "event":
            raise self.errors.from_frame(event)
        kind = headers.get(":event-type")
        payload = self.json_object(event.payload, f"{kind} event without a JSON object payload")
        if kind == "contentBlockStart":
            return self._block_start(payload)
        if kind == "contentBlockDelta":
            return self._block_delta(payload)
        if kind == "messageStop":
            self._stopped = True
            return [chat_pb2.ChatStreamResponse(finish_reason=STOP_REASONS(payload.get("stopReason")))]
        if kind == "metadata":
            if self._stopped:
                self.state.terminate()
            return [chat_pb2.ChatStreamResponse(usage=wire_usage(payload.get("usage")))]
        # messageStart, contentBlockStop and any newer event carry nothing for the caller.
        return []

    def _block_start(self, payload: dict[str, Any]) -> list[chat_pb2.ChatStreamResponse]:
        start = payload.get("start")
        tool_use = start.get("toolUse") if isinstance(start, dict) else None
        if not isinstance(tool_use, dict):
            return []
        index = self.state.start_tool_call(json_int(payload.get("contentBlockIndex")))
        out = chat_pb2.ChatStreamResponse()
        out.delta.tool_calls.append(
            chat_pb2.ToolCallDelta(
                index=index, id=tool_use_id(tool_use.get("toolUseId")), name=str(tool_use.get("name") or "")
            )
        )
        return [out]

    def _reasoning(self, block: int, reasoning: dict[str, Any], delta: chat_pb2.Delta) -> None:
        """A reasoningContent delta: {text}, {signature} or {redactedContent}."""
        delta.reasoning_index = self.state.reasoning_index(block)
        if isinstance(reasoning.get("text"), str):
            delta.reasoning = reasoning["text"]
        if isinstance(reasoning.get("signature"), str):
            delta.reasoning_signature = reasoning["signature"]
            delta.reasoning_origin = BEDROCK
        if isinstance(reasoning.get("redactedContent"), str):
            delta.reasoning_redacted_data = reasoning["redactedContent"]
            delta.reasoning_origin = BEDROCK

    def _block_delta(self, payload: dict[str, Any]) -> list[chat_pb2.ChatStreamResponse]:
        delta = payload.get("delta")
        if not isinstance(delta, dict):
            raise self.errors.malformed("contentBlockDelta without a delta object")
        out = chat_pb2.ChatStreamResponse()
        if isinstance(delta.get("text"), str):
            out.delta.text = delta["text"]
        tool_use = delta.get("toolUse")
        if isinstance(tool_use, dict):
            index = self.state.tool_calls.get(json_int(payload.get("contentBlockIndex")))
            if index is None:
                raise self.errors.malformed("toolUse delta for a block that never started")
            out.delta.tool_calls.append(
                chat_pb2.ToolCallDelta(index=index, arguments_json_fragment=str(tool_use.get("input") or ""))
            )
        reasoning = delta.get("reasoningContent")
        if isinstance(reasoning, dict):
            self._reasoning(json_int(payload.get("contentBlockIndex")), reasoning, out.delta)
        return [out] if out.HasField("delta") else []
