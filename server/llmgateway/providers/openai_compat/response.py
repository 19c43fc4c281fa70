"""An OpenAI chat completion (and the pieces streams share with it) as v1."""

from __future__ import annotations

import json
from typing import Any

from llmgateway.providers.errors import UpstreamErrors
from llmgateway.providers.wire_json import FinishReasons, json_int, tool_call_id, usage
from llmgateway.v1 import chat_pb2, content_pb2

FINISH_REASONS = FinishReasons(
    {
        "stop": chat_pb2.FINISH_REASON_STOP,
        "length": chat_pb2.FINISH_REASON_LENGTH,
        "tool_calls": chat_pb2.FINISH_REASON_TOOL_CALLS,
        "function_call": chat_pb2.FINISH_REASON_TOOL_CALLS,
        "content_filter": chat_pb2.FINISH_REASON_CONTENT_FILTER,
    }
)


def wire_usage(wire: object) -> chat_pb2.Usage:
    if not isinstance(wire, dict):
        return chat_pb2.Usage()
    prompt_details = wire.get("prompt_tokens_details") or {}
    completion_details = wire.get("completion_tokens_details") or {}
    return usage(
        json_int(wire.get("prompt_tokens")),
        json_int(wire.get("completion_tokens")),
        cached=json_int(prompt_details.get("cached_tokens")) if isinstance(prompt_details, dict) else 0,
        reasoning=json_int(completion_details.get("reasoning_tokens"))
        if isinstance(completion_details, dict)
        else 0,
        total=json_int(wire.get("total_tokens")),
    )


def reasoning_text(wire: dict[str, Any]) -> str:
    # vLLM and DeepSeek-style servers put reasoning in `reasoning_content` (newer vLLM: `reasoning`).
    value = wire.get("reasoning_content") or wire.get("reasoning")
    return value if isinstance(value, str) else ""


def _message(errors: UpstreamErrors, wire: dict[str, Any]) -> content_pb2.Message:
    parts: list[content_pb2.Part] = []
    reasoning = reasoning_text(wire)
    if reasoning:
        parts.append(content_pb2.Part(reasoning=content_pb2.Reasoning(text=reasoning)))
    text = wire.get("content")
    if isinstance(text, str) and text:
        parts.append(content_pb2.Part(text=text))
    elif isinstance(wire.get("refusal"), str):
        parts.append(content_pb2.Part(refusal=wire["refusal"]))
    tool_calls = wire.get("tool_calls") or []
    if not isinstance(tool_calls, list):
        raise errors.malformed("tool_calls is not a list")
    for tool_call in tool_calls:
        function = tool_call.get("function") if isinstance(tool_call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise errors.malformed("tool call without a function name")
        arguments = function.get("arguments")
        call = content_pb2.ToolCall(
            id=tool_call_id(tool_call.get("id")),
            name=function["name"],
            arguments_json=arguments if isinstance(arguments, str) else json.dumps(arguments),
        )
        parts.append(content_pb2.Part(tool_call=call))
    return content_pb2.Message(role=content_pb2.ROLE_ASSISTANT, parts=parts)


def chat_response(
    errors: UpstreamErrors, payload: dict[str, Any], upstream_model: str
) -> chat_pb2.ChatResponse:
    choices = payload.get("choices")
    if not payload or not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise errors.malformed("no choices in the completion")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise errors.malformed("choice without a message")
    v1_message = _message(errors, message)
    return chat_pb2.ChatResponse(
        model=str(payload.get("model") or upstream_model),
        message=v1_message,
        finish_reason=finish_reason(choices[0].get("finish_reason"), refused=_refused(v1_message)),
        usage=wire_usage(payload.get("usage")),
    )


def _refused(message: content_pb2.Message) -> bool:
    return any(part.WhichOneof("kind") == "refusal" for part in message.parts)


def finish_reason(wire: object, *, refused: bool) -> chat_pb2.FinishReason.ValueType:
    """The v1 finish reason. OpenAI ends a refusal with `stop`: the `refusal` field is what tells it
    apart, so a refusal's `stop` is REFUSAL (a `content_filter` stays what it says)."""
    reason = FINISH_REASONS(wire)
    return chat_pb2.FINISH_REASON_REFUSAL if refused and reason == chat_pb2.FINISH_REASON_STOP else reason


def model_ids(errors: UpstreamErrors, content: bytes) -> list[str]:
    """The ids of a model list."""
    try:
        payload = json.loads(content)
    except ValueError:
        raise errors.malformed("the model list is not JSON") from None
    # OpenAI and vLLM wrap the list as {"object": "list", "data": [...]}; Together sends a bare array.
    entries = payload.get("data") if isinstance(payload, dict) else payload
    if not isinstance(entries, list):
        raise errors.malformed("the model list has no data array")
    ids = [entry.get("id") for entry in entries if isinstance(entry, dict)]
    if len(ids) != len(entries) or not all(isinstance(i, str) and i for i in ids):
        raise errors.malformed("a model list entry without an id")
    return [str(i) for i in ids]
