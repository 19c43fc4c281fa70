"""A Gemini GenerateContentResponse (unary, or one event of a stream) as v1.

Thought signatures are kept in unary answers (as Reasoning parts with a signature, placed before the
part they were attached to); stream deltas have no field for them, so streams drop them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from llmgateway.providers.errors import UpstreamErrors
from llmgateway.providers.gemini.request import synthetic_call_id
from llmgateway.providers.wire_json import FinishReasons, json_int, usage
from llmgateway.reasoning.origin import GEMINI
from llmgateway.v1 import chat_pb2, content_pb2

_FILTER_REASONS = (
    "SAFETY",
    "RECITATION",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT",
    "IMAGE_RECITATION",
)
_FINISH_REASONS = FinishReasons(
    {
        "STOP": chat_pb2.FINISH_REASON_STOP,
        "MAX_TOKENS": chat_pb2.FINISH_REASON_LENGTH,
        **dict.fromkeys(_FILTER_REASONS, chat_pb2.FINISH_REASON_CONTENT_FILTER),
    },
    # Gemini says STOP when the model ended its turn with function calls.
    turn_end=frozenset({"STOP"}),
)


def finish_reason(value: object, called_tools: bool) -> chat_pb2.FinishReason.ValueType:
    return _FINISH_REASONS(value or None, called_tools)


def wire_usage(wire: object) -> chat_pb2.Usage | None:
    if not isinstance(wire, dict):
        return None
    reasoning = json_int(wire.get("thoughtsTokenCount"))
    return usage(
        # Tool-use prompt tokens are prompt tokens Gemini counts apart; thoughts are output it counts apart.
        json_int(wire.get("promptTokenCount")) + json_int(wire.get("toolUsePromptTokenCount")),
        json_int(wire.get("candidatesTokenCount")) + reasoning,
        cached=json_int(wire.get("cachedContentTokenCount")),
        reasoning=reasoning,
    )


def candidate_parts(
    errors: UpstreamErrors, payload: Mapping[str, Any]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The first candidate and its parts ({} and [] when there is none)."""
    candidates = payload.get("candidates")
    if not isinstance(candidates, list) or not candidates or not isinstance(candidates[0], dict):
        return {}, []
    candidate: dict[str, Any] = candidates[0]
    content = candidate.get("content") or {}
    parts = content.get("parts") if isinstance(content, dict) else None
    if parts is None:
        return candidate, []
    if not isinstance(parts, list) or not all(isinstance(p, dict) for p in parts):
        raise errors.malformed("candidate parts are not a list of objects")
    return candidate, parts


def function_call(
    errors: UpstreamErrors, part: dict[str, Any], index: int, salt: str
) -> content_pb2.ToolCall:
    """A `functionCall` part as a ToolCall; its id made up (stable for the answer) when it has none."""
    call = part["functionCall"]
    if not isinstance(call, dict) or not isinstance(call.get("name"), str):
        raise errors.malformed("function call without a name")
    arguments = json.dumps(call.get("args") or {}, separators=(",", ":"), ensure_ascii=False)
    wire_id = call.get("id")
    call_id = (
        wire_id
        if isinstance(wire_id, str) and wire_id
        else synthetic_call_id(index, call["name"], arguments, salt)
    )
    return content_pb2.ToolCall(id=call_id, name=call["name"], arguments_json=arguments)


def _message(errors: UpstreamErrors, parts: list[dict[str, Any]], salt: str) -> content_pb2.Message:
    out: list[content_pb2.Part] = []
    calls = 0
    for part in parts:
        signature = part.get("thoughtSignature")
        signature = signature if isinstance(signature, str) else ""
        text = part.get("text")
        signer = GEMINI if signature else ""
        if part.get("thought") is True:
            reasoning = content_pb2.Reasoning(
                text=text if isinstance(text, str) else "", signature=signature, origin=signer
            )
            out.append(content_pb2.Part(reasoning=reasoning))
            continue
        if signature:
            out.append(content_pb2.Part(reasoning=content_pb2.Reasoning(signature=signature, origin=signer)))
        if "functionCall" in part:
            out.append(content_pb2.Part(tool_call=function_call(errors, part, calls, salt)))
            calls += 1
        elif isinstance(text, str):
            if out and out[-1].WhichOneof("kind") == "text" and not signature:
                out[-1].text += text
            else:
                out.append(content_pb2.Part(text=text))
        # Other part kinds (executable code, ...) belong to tools this adapter never enables.
    return content_pb2.Message(role=content_pb2.ROLE_ASSISTANT, parts=out)


def chat_response(
    errors: UpstreamErrors, payload: dict[str, Any], upstream_model: str, request_id: str
) -> chat_pb2.ChatResponse:
    candidate, parts = candidate_parts(errors, payload)
    if not candidate:
        raise errors.malformed("no candidates in the response")
    message = _message(errors, parts, str(payload.get("responseId") or request_id))
    called = any(p.WhichOneof("kind") == "tool_call" for p in message.parts)
    return chat_pb2.ChatResponse(
        model=str(payload.get("modelVersion") or upstream_model),
        message=message,
        finish_reason=finish_reason(candidate.get("finishReason"), called),
        usage=wire_usage(payload.get("usageMetadata")),
    )


def model_page(errors: UpstreamErrors, payload: dict[str, Any] | None) -> tuple[list[str], str | None]:
    """The models on one page of the model list that can generate content, and the next page's
    token (None on the last)."""
    models = payload.get("models", []) if payload else None
    if not isinstance(models, list):
        raise errors.malformed("models is not a list")
    names = []
    for model in models:
        if not isinstance(model, dict) or not isinstance(model.get("name"), str):
            continue
        methods = model.get("supportedGenerationMethods")
        if isinstance(methods, list) and "generateContent" not in methods:
            continue
        names.append(model["name"].removeprefix("models/"))
    token = payload.get("nextPageToken") if payload else None
    return names, token if isinstance(token, str) and token else None
