"""Reasoning in Chat Completions, which has no field for it: the de-facto fields of the servers
and gateways that return it (vLLM, DeepSeek, Together, LiteLLM), which the official SDKs keep as
extra fields and send back when a caller appends the previous message as it is.

- `reasoning_content`: the reasoning text, on messages and stream deltas.
- `thinking_blocks`: the reasoning parts whole, signatures included, so a tool loop can send them
  back: `{type: "thinking", thinking, signature}` or `{type: "redacted_thinking", data}`, the
  signer prefixed (reasoning/shown.py). In a stream each fragment carries the block's `index` (and
  `type` on its first), so the SDKs' accumulators join them as they join tool calls.

Sent back, blocks become reasoning parts before the text, except a Gemini signature without
thought text (Gemini's signature of a function call), which goes right before the tool calls, to
the part it belongs to.
"""

from __future__ import annotations

from typing import Any

from llmgateway.frontends.openai.params import (
    JsonObject,
    a_list,
    a_string,
    an_object,
    invalid_value,
    only_known,
)
from llmgateway.reasoning import origin
from llmgateway.reasoning.shown import parsed, shown
from llmgateway.v1 import chat_pb2, content_pb2

_THINKING = frozenset({"type", "thinking", "signature", "index"})
_REDACTED = frozenset({"type", "data", "index"})


def block(reasoning: content_pb2.Reasoning) -> dict[str, Any]:
    if reasoning.redacted_data:
        return {"type": "redacted_thinking", "data": shown(reasoning.origin, reasoning.redacted_data)}
    return {
        "type": "thinking",
        "thinking": reasoning.text,
        "signature": shown(reasoning.origin, reasoning.signature),
    }


def message_fields(parts: list[content_pb2.Part]) -> dict[str, Any]:
    """`reasoning_content` and `thinking_blocks` of a message, when it has reasoning."""
    reasoning = [part.reasoning for part in parts if part.WhichOneof("kind") == "reasoning"]
    if not reasoning:
        return {}
    return {
        "reasoning_content": "".join(r.text for r in reasoning),
        "thinking_blocks": [block(r) for r in reasoning],
    }


class DeltaFields:
    """The reasoning fields of stream deltas: each reasoning part's fragments under its index."""

    __slots__ = ("_signed", "_started")

    def __init__(self) -> None:
        self._started: set[int] = set()
        self._signed: set[int] = set()  # parts whose signer prefix went out (with their first fragment)

    def render(self, delta: chat_pb2.Delta) -> dict[str, Any]:
        # Each field read once (a protobuf read is a lookup by name): most deltas have none of these.
        reasoning, signature, redacted = (
            delta.reasoning,
            delta.reasoning_signature,
            delta.reasoning_redacted_data,
        )
        if not (reasoning or signature or redacted):
            return {}
        index = delta.reasoning_index
        fragment: dict[str, Any] = {"index": index}
        if index not in self._started:
            self._started.add(index)
            fragment["type"] = "redacted_thinking" if redacted else "thinking"
        if redacted:
            fragment["data"] = shown(delta.reasoning_origin, redacted)
        else:
            fragment["thinking"] = reasoning
            if signature and index not in self._signed:
                # The signer goes before the first fragment only: the fragments are joined.
                self._signed.add(index)
                signature = shown(delta.reasoning_origin, signature)
            fragment["signature"] = signature
        fields: dict[str, Any] = {"thinking_blocks": [fragment]}
        if reasoning:
            fields["reasoning_content"] = reasoning
        return fields


def _part(path: str, value: object) -> content_pb2.Part:
    item = an_object(path, value)
    kind = item.get("type")
    if kind == "redacted_thinking":
        only_known(path, item, _REDACTED)
        signer, data = parsed(a_string(f"{path}.data", item.get("data")))
        return content_pb2.Part(reasoning=content_pb2.Reasoning(redacted_data=data, origin=signer))
    if kind != "thinking":
        raise invalid_value(f"{path}.type", kind, "Supported values are: 'thinking' and 'redacted_thinking'.")
    only_known(path, item, _THINKING)
    text = a_string(f"{path}.thinking", item.get("thinking", ""))
    signer, signature = parsed(a_string(f"{path}.signature", item.get("signature", "")))
    return content_pb2.Part(reasoning=content_pb2.Reasoning(text=text, signature=signature, origin=signer))


def with_reasoning(where: str, message: JsonObject, parts: list[content_pb2.Part]) -> list[content_pb2.Part]:
    """An assistant message's parts with its `thinking_blocks` (else `reasoning_content`) put back."""
    blocks = message.get("thinking_blocks")
    if blocks is not None:
        reasoning = [
            _part(f"{where}.thinking_blocks[{i}]", b)
            for i, b in enumerate(a_list(f"{where}.thinking_blocks", blocks))
        ]
    elif message.get("reasoning_content"):
        text = a_string(f"{where}.reasoning_content", message["reasoning_content"])
        reasoning = [content_pb2.Part(reasoning=content_pb2.Reasoning(text=text))]
    else:
        return parts

    def signs_a_call(part: content_pb2.Part) -> bool:
        r = part.reasoning
        return r.origin == origin.GEMINI and not r.text and not r.redacted_data

    first = [p for p in reasoning if not signs_a_call(p)]
    before_calls = [p for p in reasoning if signs_a_call(p)]
    calls_at = next((i for i, p in enumerate(parts) if p.WhichOneof("kind") == "tool_call"), len(parts))
    return [*first, *parts[:calls_at], *before_calls, *parts[calls_at:]]
