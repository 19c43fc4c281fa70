"""An Ollama `/api/chat` answer (unary, or one line of a stream) as v1."""

from __future__ import annotations

import json
from typing import Any

from llmgateway.providers.errors import UpstreamErrors
from llmgateway.providers.wire_json import FinishReasons, json_int, tool_call_id, usage
from llmgateway.v1 import chat_pb2, content_pb2

_FINISH_REASONS = FinishReasons(
    {"stop": chat_pb2.FINISH_REASON_STOP, "length": chat_pb2.FINISH_REASON_LENGTH},
    # Ollama reports "stop" when the model ended its turn with tool calls.
    turn_end=frozenset({"stop"}),
)


def finish_reason(done_reason: object, called_tools: bool) -> chat_pb2.FinishReason.ValueType:
    # Older servers send no reason at all on a normal end.
    return _FINISH_REASONS(done_reason or "stop", called_tools)


def wire_usage(line: dict[str, Any]) -> chat_pb2.Usage:
    return usage(json_int(line.get("prompt_eval_count")), json_int(line.get("eval_count")))


def tool_calls(errors: UpstreamErrors, message: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(id, name, arguments JSON) of each tool call in a wire message; calls arrive whole."""
    calls = message.get("tool_calls") or []
    if not isinstance(calls, list):
        raise errors.malformed("tool_calls is not a list")
    result = []
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise errors.malformed("tool call without a function name")
        arguments = function.get("arguments")
        if arguments is None:
            arguments = {}
        text = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
        # Newer servers send an id; callers need one to answer.
        result.append((tool_call_id(call.get("id")), function["name"], text))
    return result


def _parts(errors: UpstreamErrors, message: dict[str, Any]) -> list[content_pb2.Part]:
    parts: list[content_pb2.Part] = []
    thinking = message.get("thinking")
    if isinstance(thinking, str) and thinking:
        parts.append(content_pb2.Part(reasoning=content_pb2.Reasoning(text=thinking)))
    text = message.get("content")
    if isinstance(text, str) and text:
        parts.append(content_pb2.Part(text=text))
    for call_id, name, arguments in tool_calls(errors, message):
        call = content_pb2.ToolCall(id=call_id, name=name, arguments_json=arguments)
        parts.append(content_pb2.Part(tool_call=call))
    return parts


def chat_response(
    errors: UpstreamErrors, payload: dict[str, Any], upstream_model: str
) -> chat_pb2.ChatResponse:
    message = payload.get("message")
    if not isinstance(message, dict) or payload.get("done") is not True:
        raise errors.malformed("no finished message in the response")
    parts = _parts(errors, message)
    called = any(part.WhichOneof("kind") == "tool_call" for part in parts)
    return chat_pb2.ChatResponse(
        model=str(payload.get("model") or upstream_model),
        message=content_pb2.Message(role=content_pb2.ROLE_ASSISTANT, parts=parts),
        finish_reason=finish_reason(payload.get("done_reason"), called),
        usage=wire_usage(payload),
    )


def model_names(errors: UpstreamErrors, payload: dict[str, Any] | None) -> list[str]:
    """The names in GET /api/tags."""
    models = payload.get("models") if payload else None
    if not isinstance(models, list):
        raise errors.malformed("no models list in /api/tags")
    return [m["name"] for m in models if isinstance(m, dict) and isinstance(m.get("name"), str)]
