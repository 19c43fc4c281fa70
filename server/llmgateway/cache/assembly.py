"""A stream as the one message it carries, and a message as a stream: v1's Delta assembly rule
(chat.proto, Delta) in both directions. The cache stores streams assembled and replays cached
answers as streams; both must keep reasoning signatures and redacted content byte for byte, or a
client that sends the assistant turn back in a tool loop is refused by the provider."""

from __future__ import annotations

import re
from collections.abc import Iterator

from llmgateway.v1 import chat_pb2, content_pb2

_WORDS = re.compile(r"\S+\s*|\s+")


class StreamAssembler:
    """Builds the ChatResponse a stream amounts to: parts in the order the stream first mentions
    them, taking within one Delta reasoning first, then refusal, then text, then tool calls."""

    def __init__(self) -> None:
        self.response = chat_pb2.ChatResponse(message=content_pb2.Message(role=content_pb2.ROLE_ASSISTANT))
        self._parts: list[content_pb2.Part] = []  # in first-mention order, filled in as fragments come
        self._reasoning: dict[int, content_pb2.Part] = {}
        self._calls: dict[int, content_pb2.Part] = {}
        self._text: content_pb2.Part | None = None
        self._refusal: content_pb2.Part | None = None

    def _new(self, part: content_pb2.Part) -> content_pb2.Part:
        self._parts.append(part)
        return self._parts[-1]

    def _add_reasoning(self, delta: chat_pb2.Delta) -> None:
        if not (
            delta.reasoning
            or delta.reasoning_signature
            or delta.reasoning_redacted_data
            or delta.reasoning_origin
        ):
            return
        part = self._reasoning.get(delta.reasoning_index)
        if part is None:
            part = self._reasoning[delta.reasoning_index] = self._new(
                content_pb2.Part(reasoning=content_pb2.Reasoning())
            )
        reasoning = part.reasoning
        reasoning.text += delta.reasoning
        reasoning.signature += delta.reasoning_signature
        reasoning.redacted_data += delta.reasoning_redacted_data
        reasoning.origin = delta.reasoning_origin or reasoning.origin

    def _add_delta(self, delta: chat_pb2.Delta) -> None:
        self._add_reasoning(delta)
        if delta.refusal:
            if self._refusal is None:
                self._refusal = self._new(content_pb2.Part(refusal=""))
            self._refusal.refusal += delta.refusal
        if delta.text:
            if self._text is None:
                self._text = self._new(content_pb2.Part(text=""))
            self._text.text += delta.text
        for fragment in delta.tool_calls:
            part = self._calls.get(fragment.index)
            if part is None:
                part = self._calls[fragment.index] = self._new(
                    content_pb2.Part(tool_call=content_pb2.ToolCall())
                )
            call = part.tool_call
            call.id += fragment.id
            call.name += fragment.name
            call.arguments_json += fragment.arguments_json_fragment

    def add(self, message: chat_pb2.ChatStreamResponse) -> None:
        if message.provider:
            self.response.id, self.response.model, self.response.provider = (
                message.id,
                message.model,
                message.provider,
            )
        if message.HasField("delta"):
            self._add_delta(message.delta)
        if message.finish_reason:
            self.response.finish_reason = message.finish_reason
        if message.HasField("usage"):
            self.response.usage.CopyFrom(message.usage)

    def result(self) -> chat_pb2.ChatResponse:
        self.response.message.parts.extend(self._parts)
        self._parts = []
        return self.response


def _reasoning_delta(index: int, reasoning: content_pb2.Reasoning) -> chat_pb2.Delta:
    return chat_pb2.Delta(
        reasoning=reasoning.text,
        reasoning_index=index,
        reasoning_signature=reasoning.signature,
        reasoning_redacted_data=reasoning.redacted_data,
        reasoning_origin=reasoning.origin,
    )


def message_deltas(message: content_pb2.Message) -> Iterator[chat_pb2.Delta]:
    """A message as deltas that assemble back into it: text word by word, other parts whole."""
    calls = reasoning = 0
    for part in message.parts:
        kind = part.WhichOneof("kind")
        if kind == "text":
            for word in _WORDS.findall(part.text):
                yield chat_pb2.Delta(text=word)
        elif kind == "refusal":
            yield chat_pb2.Delta(refusal=part.refusal)
        elif kind == "reasoning":
            yield _reasoning_delta(reasoning, part.reasoning)
            reasoning += 1
        elif kind == "tool_call":
            call = part.tool_call
            fragment = chat_pb2.ToolCallDelta(
                index=calls, id=call.id, name=call.name, arguments_json_fragment=call.arguments_json
            )
            yield chat_pb2.Delta(tool_calls=[fragment])
            calls += 1
