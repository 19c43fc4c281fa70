"""A v1 stream as the Messages API's event stream: message_start and a ping, then for each content
block content_block_start, its deltas (text_delta, thinking_delta, input_json_delta) and
content_block_stop, then message_delta (stop reason, usage) and message_stop.

Each v1 reasoning part is a thinking block (its signature, joined from its fragments, in one
signature_delta just before the block stops: the SDKs' accumulators keep the last signature_delta,
not their concatenation), or a redacted_thinking block, whole in its start event.

v1 sends the finish reason on the last content message and usage on the one after it; Anthropic
sends both in message_delta, so that event waits for the end of the stream."""

from __future__ import annotations

from typing import Any

import orjson

from llmgateway.frontends.anthropic.errors import unsayable
from llmgateway.frontends.anthropic.message import message_id, stop_reason, usage
from llmgateway.reasoning.shown import shown
from llmgateway.v1 import chat_pb2

Event = tuple[str, bytes]  # the event's name and its data


def _event(name: str, payload: dict[str, Any]) -> Event:
    return name, orjson.dumps({"type": name, **payload})


class EventStream:
    """Renders one stream's messages, in order: `start` with the first, `feed` with each of the
    rest, `end` when the stream ended well."""

    __slots__ = (
        "_blocks",
        "_closed_tools",
        "_open",
        "_open_reasoning",
        "_open_tool",
        "_signature",
        "_signer",
        "_stop",
        "_usage",
    )

    def __init__(self) -> None:
        self._blocks = 0  # content blocks begun
        self._open: str | None = None  # the type of the block open now, the last one begun
        self._open_tool = -1  # the v1 index of the tool call whose block is open
        self._closed_tools: set[int] = set()
        self._open_reasoning = -1  # the v1 index of the reasoning part whose thinking block is open
        self._signature = ""  # the open thinking block's signature so far
        self._signer = ""  # and who signed it
        self._stop = chat_pb2.FINISH_REASON_UNSPECIFIED
        self._usage = chat_pb2.Usage()

    def start(self, first: chat_pb2.ChatStreamResponse) -> list[Event]:
        message: dict[str, Any] = {
            "id": message_id(first.id),
            "type": "message",
            "role": "assistant",
            "model": first.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            # v1 reports usage once, at the end: message_delta carries all of it.
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return [_event("message_start", {"message": message}), _event("ping", {}), *self.feed(first)]

    def feed(self, message: chat_pb2.ChatStreamResponse) -> list[Event]:
        events: list[Event] = []
        if message.HasField("delta"):
            delta = message.delta
            events += self._reasoning(delta)
            # A refusal is text on the Messages API (its stop_reason says "refusal").
            for text in (delta.refusal, delta.text):
                if text:
                    events += self._into("text", {"text": ""})
                    events.append(self._delta({"type": "text_delta", "text": text}))
            for call in delta.tool_calls:
                events += self._tool_call(call)
        if message.finish_reason:
            self._stop = message.finish_reason
            events += self._close()
        if message.HasField("usage"):
            self._usage.CopyFrom(message.usage)
        return events

    def end(self) -> list[Event]:
        delta = {"stop_reason": stop_reason(self._stop), "stop_sequence": None}
        return [
            *self._close(),
            _event("message_delta", {"delta": delta, "usage": usage(self._usage, breakdown=False)}),
            _event("message_stop", {}),
        ]

    def _reasoning(self, delta: chat_pb2.Delta) -> list[Event]:
        if delta.reasoning_redacted_data:
            data = shown(delta.reasoning_origin, delta.reasoning_redacted_data)
            return self._into("redacted_thinking", {"data": data}, force=True) + self._close()
        if not (delta.reasoning or delta.reasoning_signature):
            return []
        events: list[Event] = []
        if not (self._open == "thinking" and self._open_reasoning == delta.reasoning_index):
            events += self._into("thinking", {"thinking": "", "signature": ""}, force=True)
            self._open_reasoning = delta.reasoning_index
        if delta.reasoning:
            events.append(self._delta({"type": "thinking_delta", "thinking": delta.reasoning}))
        self._signature += delta.reasoning_signature
        self._signer = delta.reasoning_origin or self._signer
        return events

    def _tool_call(self, call: chat_pb2.ToolCallDelta) -> list[Event]:
        events: list[Event] = []
        if not (self._open == "tool_use" and self._open_tool == call.index):
            if call.index in self._closed_tools:
                # A Messages stream cannot reopen a block; providers send one call after another.
                raise unsayable(f"the model went back to tool call {call.index} after starting another")
            events += self._into("tool_use", {"id": call.id, "name": call.name, "input": {}}, force=True)
            self._open_tool = call.index
        if call.arguments_json_fragment:
            events.append(
                self._delta({"type": "input_json_delta", "partial_json": call.arguments_json_fragment})
            )
        return events

    def _into(self, kind: str, block: dict[str, Any], *, force: bool = False) -> list[Event]:
        """Begin a block of `kind` unless one is open already (a tool call always begins one)."""
        if self._open == kind and not force:
            return []
        events = self._close()
        events.append(
            _event("content_block_start", {"index": self._blocks, "content_block": {"type": kind, **block}})
        )
        self._open = kind
        self._blocks += 1
        return events

    def _delta(self, delta: dict[str, Any]) -> Event:
        return _event("content_block_delta", {"index": self._blocks - 1, "delta": delta})

    def _close(self) -> list[Event]:
        if self._open is None:
            return []
        events: list[Event] = []
        if self._open == "tool_use":
            self._closed_tools.add(self._open_tool)
            self._open_tool = -1
        elif self._open == "thinking":
            if self._signature:
                signature = shown(self._signer, self._signature)
                events.append(self._delta({"type": "signature_delta", "signature": signature}))
            self._open_reasoning, self._signature, self._signer = -1, "", ""
        self._open = None
        events.append(_event("content_block_stop", {"index": self._blocks - 1}))
        return events
