"""An Ollama NDJSON stream (one JSON object a line, the last `done: true`) as v1 messages."""

from __future__ import annotations

from llmgateway.providers.adapter import StreamEvents
from llmgateway.providers.ollama.errors import OllamaErrors
from llmgateway.providers.ollama.response import finish_reason, tool_calls, wire_usage
from llmgateway.v1 import chat_pb2


class OllamaEvents(StreamEvents[bytes]):
    errors: OllamaErrors

    def missing(self) -> str:
        return "no done line"

    def messages(self, event: bytes) -> list[chat_pb2.ChatStreamResponse]:
        if not event.strip():
            return []
        line = self.json_object(event, "a stream line that is not a JSON object")
        if "error" in line:
            raise self.errors.from_line(line)
        model = line.get("model")
        self.state.model = model if isinstance(model, str) else self.state.model
        message = line.get("message") or {}
        if not isinstance(message, dict):
            raise self.errors.malformed("message is not an object")
        out = chat_pb2.ChatStreamResponse()  # fields set one by one: see openai_compat/events.py
        out.model = self.state.model
        thinking = message.get("thinking")
        if isinstance(thinking, str) and thinking:
            out.delta.reasoning = thinking
        text = message.get("content")
        if isinstance(text, str) and text:
            out.delta.text = text
        for call_id, name, arguments in tool_calls(self.errors, message):
            # A call arrives whole: its id, name and all of its arguments form one fragment.
            index = self.state.start_tool_call(len(self.state.tool_calls))
            out.delta.tool_calls.append(
                chat_pb2.ToolCallDelta(index=index, id=call_id, name=name, arguments_json_fragment=arguments)
            )
        messages: list[chat_pb2.ChatStreamResponse] = []
        done = line.get("done") is True
        if done:
            out.finish_reason = finish_reason(line.get("done_reason"), bool(self.state.tool_calls))
        if out.HasField("delta") or done:
            messages.append(out)
        if done:
            messages.append(chat_pb2.ChatStreamResponse(model=self.state.model, usage=wire_usage(line)))
            self.state.terminate()
        return messages
