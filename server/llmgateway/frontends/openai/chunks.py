"""v1 stream messages → `chat.completion.chunk` payloads, as the official SDKs' accumulators need
them: the role on the first delta; each tool call's `index` on every fragment and its `id`, `type`
and `function.name` on its first; `finish_reason` on the last content chunk; with
`stream_options.include_usage`, `usage: null` on every chunk and then exactly one chunk with
`choices: []` and the usage. The terminator (`[DONE]`) and failures are the route's to send."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from llmgateway.frontends.openai.reasoning import DeltaFields
from llmgateway.frontends.openai.response import completion_id, finish_reason, usage
from llmgateway.v1 import chat_pb2


class ChunkRenderer:
    """Renders one stream's messages; `created` and `model` are the same on every chunk."""

    __slots__ = ("_calls", "_head", "_include_usage", "_reasoning", "_role_sent", "_tail")

    def __init__(
        self, first: chat_pb2.ChatStreamResponse, *, created: int, model: str, include_usage: bool
    ) -> None:
        # Every chunk is the same object but for its choices (and the usage chunk's usage), so
        # the bytes around them are serialised once per stream: per token only the choices are.
        head = orjson.dumps(
            {
                "id": completion_id(first.id),
                "object": "chat.completion.chunk",
                "created": created,
                "model": first.model or model,
            }
        )
        self._head = head[:-1] + b',"choices":'
        self._tail = b',"usage":null}' if include_usage else b"}"
        self._include_usage = include_usage
        self._role_sent = False
        self._calls: set[int] = set()  # indices of the tool calls whose first fragment was sent
        self._reasoning = DeltaFields()

    def _chunk(self, choices: list[dict[str, Any]]) -> bytes:
        return self._head + orjson.dumps(choices) + self._tail

    def _tool_calls(self, fragments: list[chat_pb2.ToolCallDelta]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for fragment in fragments:
            if fragment.index in self._calls:
                out.append(
                    {"index": fragment.index, "function": {"arguments": fragment.arguments_json_fragment}}
                )
                continue
            self._calls.add(fragment.index)
            # The first fragment must name the call: SDKs key their accumulation on it.
            out.append(
                {
                    "index": fragment.index,
                    "id": fragment.id or f"call_{uuid.uuid4().hex[:24]}",
                    "type": "function",
                    "function": {"name": fragment.name, "arguments": fragment.arguments_json_fragment},
                }
            )
        return out

    def render(self, message: chat_pb2.ChatStreamResponse) -> list[bytes]:
        """The chunks (JSON payloads) for one v1 stream message; none for one they do not show."""
        delta: dict[str, Any] = {}
        if not self._role_sent:
            delta = {"role": "assistant", "content": "", "refusal": None}
            self._role_sent = True
        if message.HasField("delta"):
            # Each field is read once: every read of a protobuf field is a lookup by name, and a
            # string field's read makes a new str (a fifth of this door's instructions per token
            # went to protobuf reads before).
            wire = message.delta
            delta.update(self._reasoning.render(wire))
            refusal = wire.refusal
            if refusal:
                delta["refusal"] = refusal
            text = wire.text
            if text:
                delta["content"] = text
            tool_calls = wire.tool_calls
            if tool_calls:
                delta["tool_calls"] = self._tool_calls(list(tool_calls))
        reason = message.finish_reason
        chunks: list[bytes] = []
        if delta or reason:
            choice = {
                "index": 0,
                "delta": delta,
                "logprobs": None,
                "finish_reason": finish_reason(reason) if reason else None,
            }
            chunks.append(self._chunk([choice]))
        if message.HasField("usage") and self._include_usage:
            chunks.append(self._head + b'[],"usage":' + orjson.dumps(usage(message.usage)) + b"}")
        return chunks
