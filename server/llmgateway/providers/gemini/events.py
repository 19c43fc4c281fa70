"""A Gemini stream (`streamGenerateContent?alt=sse`: each event a whole GenerateContentResponse) as
v1 messages. It has no terminator event: it ends when the body ends, and counts as complete only if
some event carried a `finishReason`."""

from __future__ import annotations

from typing import Any

from llmgateway.providers.adapter import StreamEvents
from llmgateway.providers.base import UpstreamCall
from llmgateway.providers.gemini.errors import GeminiErrors
from llmgateway.providers.gemini.response import candidate_parts, finish_reason, function_call, wire_usage
from llmgateway.providers.http.framing import SseEvent
from llmgateway.reasoning.origin import GEMINI
from llmgateway.v1 import chat_pb2


class GeminiEvents(StreamEvents[SseEvent]):
    errors: GeminiErrors

    def __init__(self, errors: GeminiErrors, call: UpstreamCall) -> None:
        super().__init__(errors, call)
        # Made-up call ids are salted with the response's id once it is known, else the request's.
        self._salt = call.request_id
        self._salted = False
        self._thought: int | None = None  # the reasoning part thought parts are joining, if any

    @staticmethod
    def _carries_reasoning(part: dict[str, Any]) -> bool:
        return part.get("thought") is True or isinstance(part.get("thoughtSignature"), str)

    def _part(self, part: dict[str, Any], delta: chat_pb2.Delta) -> None:
        """One wire part into the delta. Consecutive thought parts are one reasoning part; a
        signature on another part is a signature-only reasoning part before it (the convention of
        response.py), which the request builder puts back on the part that follows it."""
        signature = part.get("thoughtSignature")
        text = part.get("text")
        if part.get("thought") is True:
            if self._thought is None:
                self._thought = self.state.reasoning_index(len(self.state.reasoning))
            delta.reasoning_index = self._thought
            delta.reasoning += text if isinstance(text, str) else ""
            if isinstance(signature, str) and signature:
                delta.reasoning_signature, delta.reasoning_origin = signature, GEMINI
            return
        self._thought = None
        if isinstance(signature, str) and signature:
            delta.reasoning_index = self.state.reasoning_index(len(self.state.reasoning))
            delta.reasoning_signature, delta.reasoning_origin = signature, GEMINI
        if "functionCall" in part:
            calls = len(self.state.tool_calls)
            tool_call = function_call(self.errors, part, calls, self._salt)
            # Gemini sends a call whole, so its first fragment is all of its arguments.
            delta.tool_calls.append(
                chat_pb2.ToolCallDelta(
                    index=self.state.start_tool_call(calls),
                    id=tool_call.id,
                    name=tool_call.name,
                    arguments_json_fragment=tool_call.arguments_json,
                )
            )
        elif isinstance(text, str) and text:
            delta.text += text

    def missing(self) -> str:
        return "the body ended before an event with a finishReason"

    def messages(self, event: SseEvent) -> list[chat_pb2.ChatStreamResponse]:
        chunk = self.json_object(event.data, "a stream event that is not a JSON object")
        if "error" in chunk:
            raise self.errors.from_event(chunk["error"])
        self.errors.check_blocked(chunk)
        if isinstance(chunk.get("responseId"), str) and not self._salted:
            self._salt, self._salted = chunk["responseId"], True
        model = chunk.get("modelVersion")
        model = model if isinstance(model, str) else ""
        messages: list[chat_pb2.ChatStreamResponse] = []
        candidate, parts = candidate_parts(self.errors, chunk)
        out = chat_pb2.ChatStreamResponse()  # fields set one by one: see openai_compat/events.py
        out.model = model
        for part in parts:
            if self._carries_reasoning(part) and out.HasField("delta"):
                # Within a Delta reasoning comes first: reasoning after other content of this
                # event starts a message of its own, so the parts keep their order.
                messages.append(out)
                out = chat_pb2.ChatStreamResponse()
                out.model = model
            self._part(part, out.delta)
        reason = candidate.get("finishReason") if candidate else None
        if reason:
            self.state.finished = True
            out.finish_reason = finish_reason(reason, bool(self.state.tool_calls))
        if out.HasField("delta") or out.finish_reason:
            messages.append(out)
        stream_usage = wire_usage(chunk.get("usageMetadata"))
        if stream_usage is not None:
            messages.append(chat_pb2.ChatStreamResponse(model=model, usage=stream_usage))
        return messages
