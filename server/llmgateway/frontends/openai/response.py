"""A v1 ChatResponse → an OpenAI `chat.completion` object, and the pieces its stream chunks share
(ids, finish reasons, usage)."""

from __future__ import annotations

from typing import Any

from llmgateway.frontends.openai.reasoning import message_fields
from llmgateway.v1 import chat_pb2

_FINISH_REASONS: dict[chat_pb2.FinishReason.ValueType, str] = {
    chat_pb2.FINISH_REASON_STOP: "stop",
    chat_pb2.FINISH_REASON_LENGTH: "length",
    chat_pb2.FINISH_REASON_TOOL_CALLS: "tool_calls",
    chat_pb2.FINISH_REASON_CONTENT_FILTER: "content_filter",
    # OpenAI ends a refusal with "stop"; the message's (or delta's) `refusal` says it refused.
    chat_pb2.FINISH_REASON_REFUSAL: "stop",
    # Chat Completions has no "other": SDKs type finish_reason as the four above, and "stop" is
    # what a provider's unnamed reason (a refusal, a pause) comes closest to.
    chat_pb2.FINISH_REASON_OTHER: "stop",
}


def completion_id(request_id: str) -> str:
    """The `id` of a completion and of its chunks: OpenAI's prefix on the gateway's request id."""
    return f"chatcmpl-{request_id}"


def finish_reason(reason: chat_pb2.FinishReason.ValueType) -> str:
    return _FINISH_REASONS.get(reason, "stop")


def usage(usage: chat_pb2.Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens or usage.input_tokens + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_input_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def tool_call(index: int, call_id: str, name: str, arguments: str) -> dict[str, Any]:
    # `index` is in the unary shape too: OpenAI's own stream accumulators read it off both.
    return {
        "index": index,
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }


def completion(response: chat_pb2.ChatResponse, created: int, requested_model: str) -> dict[str, Any]:
    """The `chat.completion` for `response`; reasoning in the de-facto fields (reasoning.py), its
    tokens in usage."""
    parts = response.message.parts
    text = "".join(part.text for part in parts if part.WhichOneof("kind") == "text")
    refusal = "".join(part.refusal for part in parts if part.WhichOneof("kind") == "refusal")
    calls = [part.tool_call for part in parts if part.WhichOneof("kind") == "tool_call"]
    message: dict[str, Any] = {
        "role": "assistant",
        # As OpenAI answers a refusal: no content, the refusal in its own field.
        "content": text or (None if calls or refusal else ""),
        "refusal": refusal or None,
    }
    if calls:
        message["tool_calls"] = [
            tool_call(index, call.id, call.name, call.arguments_json or "{}")
            for index, call in enumerate(calls)
        ]
    message.update(message_fields(list(parts)))
    return {
        "id": completion_id(response.id),
        "object": "chat.completion",
        "created": created,
        "model": response.model or requested_model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_reason(response.finish_reason),
            }
        ],
        "usage": usage(response.usage),
    }
