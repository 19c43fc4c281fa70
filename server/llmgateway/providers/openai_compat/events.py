"""An OpenAI chat-completion stream (`data: {chunk}` events, then `data: [DONE]`) as v1 messages."""

from __future__ import annotations

from typing import Any

from llmgateway.providers.adapter import StreamEvents
from llmgateway.providers.base import UpstreamCall
from llmgateway.providers.errors import UpstreamErrors
from llmgateway.providers.http.framing import SseEvent
from llmgateway.providers.openai_compat.errors import OpenAIErrors
from llmgateway.providers.openai_compat.response import finish_reason, reasoning_text, wire_usage
from llmgateway.providers.wire_json import json_int, tool_call_id
from llmgateway.v1 import chat_pb2


class OpenAIEvents(StreamEvents[SseEvent]):
    errors: OpenAIErrors

    def __init__(self, errors: UpstreamErrors, call: UpstreamCall) -> None:
        super().__init__(errors, call)
        # A refusal streams as `delta.refusal` and still ends with `stop` (see finish_reason).
        self._refused = False

    def missing(self) -> str:
        return "no [DONE] event"

    def messages(self, event: SseEvent) -> list[chat_pb2.ChatStreamResponse]:
        if event.data == "[DONE]":
            self.state.terminate()
            return []
        chunk = self.json_object(event.data, "a stream event that is not a JSON object")
        error = chunk.get("error")
        if error is not None:
            raise self.errors.from_chunk(error)
        messages: list[chat_pb2.ChatStreamResponse] = []
        model = chunk.get("model")
        if not isinstance(model, str):
            model = ""
        choices = chunk.get("choices") or []
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            messages.append(self._choice(choices[0], model))
        if isinstance(chunk.get("usage"), dict):
            messages.append(chat_pb2.ChatStreamResponse(model=model, usage=wire_usage(chunk["usage"])))
        return messages

    def _choice(self, choice: dict[str, Any], model: str) -> chat_pb2.ChatStreamResponse:
        delta = choice.get("delta") or {}
        if not isinstance(delta, dict):
            raise self.errors.malformed("delta is not an object")
        # Fields set one by one: upb's keyword constructor costs about 1 µs more per message.
        out = chat_pb2.ChatStreamResponse()
        out.model = model
        text = delta.get("content")
        if isinstance(text, str) and text:
            out.delta.text = text
        reasoning = reasoning_text(delta)
        if reasoning:
            out.delta.reasoning = reasoning
        refusal = delta.get("refusal")
        if isinstance(refusal, str) and refusal:
            out.delta.refusal = refusal
            self._refused = True
        for fragment in delta.get("tool_calls") or []:
            if not isinstance(fragment, dict):
                raise self.errors.malformed("tool call fragment is not an object")
            function = fragment.get("function") or {}
            # The wire's own index is the call's; its first fragment carries (or is given) the id.
            index = json_int(fragment.get("index"))
            first = index not in self.state.tool_calls
            self.state.tool_calls[index] = index
            out.delta.tool_calls.append(
                chat_pb2.ToolCallDelta(
                    index=index,
                    id=tool_call_id(fragment.get("id")) if first else "",
                    name=function.get("name") or "",
                    arguments_json_fragment=function.get("arguments") or "",
                )
            )
        out.finish_reason = finish_reason(choice.get("finish_reason"), refused=self._refused)
        return out
