"""v1 ChatRequest → Gemini `generateContent` request body (the REST API's camelCase JSON).

Decisions worth knowing:
- System and developer messages, wherever they sit in the conversation, go to `systemInstruction`:
  Gemini has no system role inside `contents`.
- Tool parameter schemas go as `parametersJsonSchema` and the output schema as `responseJsonSchema`:
  both take full JSON Schema, while `parameters` / `responseSchema` take an OpenAPI subset that
  rejects common JSON Schema keywords.
- Gemini function calls carry no ids (the Developer API leaves `id` empty), so the adapter makes up
  ids (`call_<n>_<hash>`); ids in that form are never sent back. A provider-given id is.
- A tool result becomes `functionResponse{name, response}`: `response` must be an object, so text
  that is a JSON object goes as that object and any other text as `{"result": text}`; a failed
  tool's output goes as `{"error": ...}`, the key Gemini's documentation asks for.
- Media: inline bytes and data: URIs go as `inlineData`; Gemini Files API URIs as `fileData`; any
  other https URI must be inlined (`fileData` takes only Files API and `gs://` URIs, and the gateway
  accepts no `gs://`), which needs media fetching enabled, else the call fails with
  UNSUPPORTED_CAPABILITY.
- `Message.name` is not sent: Gemini has no participant names (the field is optional by contract).
- A reasoning part with a signature is Gemini's `thoughtSignature`, returned on the part that
  followed it; the reasoning text itself is not sent back (Gemini does not take thoughts as input).
  A signature another protocol made (after a fallback) is dropped; a function call that came with
  one gets Gemini's documented placeholder for calls from elsewhere (`skip_thought_signature_validator`),
  since Gemini 3 refuses function calls of the current turn without a signature.
- Reasoning settings go in `generationConfig.thinkingConfig`: Gemini 3 takes an effort as
  `thinkingLevel` (minimal and low → "low", medium and high → "high", the two levels every Gemini 3
  model takes), Gemini 2.5 as a `thinkingBudget` (reasoning/budget.py); a budget goes as
  `thinkingBudget` on both, `include_thoughts` as `includeThoughts`, effort none as budget 0.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

from llmgateway.errors import unsupported_capability
from llmgateway.providers.media import MediaFetcher, media_bytes
from llmgateway.providers.wire_json import struct_to_dict
from llmgateway.providers.wire_request import (
    append_turn,
    generation_fields,
    refuse_strict_tools,
    tool_result_text,
)
from llmgateway.reasoning import origin, support
from llmgateway.reasoning.ask import requested as requested_reasoning
from llmgateway.reasoning.budget import budget_for
from llmgateway.v1 import chat_pb2, content_pb2

# Gemini's documented thoughtSignature for function calls it did not make (a conversation carried
# over from another model), which Gemini 3 accepts where it requires a signature.
FOREIGN_SIGNATURE = "skip_thought_signature_validator"
_LEVELS = {"minimal": "low", "low": "low", "medium": "high", "high": "high"}
_SYNTHETIC_ID = re.compile(r"^call_\d+_[0-9a-f]{12}$")
_FILES_API_PREFIX = "https://generativelanguage.googleapis.com/v1beta/files/"
_MAX_STOP_SEQUENCES = 5
_INT32_MAX = 2**31 - 1

_TOOL_MODES = {
    content_pb2.ToolChoice.MODE_AUTO: "AUTO",
    content_pb2.ToolChoice.MODE_NONE: "NONE",
    content_pb2.ToolChoice.MODE_REQUIRED: "ANY",
    content_pb2.ToolChoice.MODE_TOOL: "ANY",
}
_SYSTEM_ROLES = (content_pb2.ROLE_SYSTEM, content_pb2.ROLE_DEVELOPER)

AnyRequest = chat_pb2.ChatRequest | chat_pb2.ChatStreamRequest


def synthetic_call_id(index: int, name: str, arguments_json: str, salt: str) -> str:
    """A stable id for a Gemini function call, which comes without one."""
    digest = hashlib.sha256(f"{salt}\0{index}\0{name}\0{arguments_json}".encode()).hexdigest()
    return f"call_{index}_{digest[:12]}"


def _is_synthetic(call_id: str) -> bool:
    return bool(_SYNTHETIC_ID.match(call_id))


async def _media_part(provider: str, media: content_pb2.Media, fetcher: MediaFetcher) -> dict[str, Any]:
    uri = media.uri if media.WhichOneof("source") == "uri" else ""
    if uri.startswith(_FILES_API_PREFIX):
        file_data: dict[str, Any] = {"fileUri": uri}
        if media.mime_type:
            file_data["mimeType"] = media.mime_type
        return {"fileData": file_data}
    data, mime_type = await media_bytes(media, provider, fetcher)
    if not mime_type:
        raise unsupported_capability(provider, "inline media without a mime type")
    return {"inlineData": {"mimeType": mime_type, "data": base64.b64encode(data).decode("ascii")}}


def _function_call(provider: str, call: content_pb2.ToolCall) -> dict[str, Any]:
    try:
        args = json.loads(call.arguments_json) if call.arguments_json else {}
    except ValueError:
        args = None
    if not isinstance(args, dict):
        # Gemini keeps arguments as an object; a model turn with anything else cannot be replayed.
        raise unsupported_capability(provider, f"tool call {call.id!r} whose arguments are not a JSON object")
    wire: dict[str, Any] = {"name": call.name, "args": args}
    if call.id and not _is_synthetic(call.id):
        wire["id"] = call.id
    return wire


def _function_response(
    provider: str, result: content_pb2.ToolResult, call_names: dict[str, str]
) -> dict[str, Any]:
    name = result.name or call_names.get(result.tool_call_id, "")
    if not name:
        raise unsupported_capability(
            provider,
            f"a tool result ({result.tool_call_id!r}) without a name or a matching earlier tool call",
        )
    text = tool_result_text(provider, result)
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    value: Any = parsed if isinstance(parsed, dict) else text
    response = (
        {"error": value} if result.is_error else (value if isinstance(value, dict) else {"result": value})
    )
    wire: dict[str, Any] = {"name": name, "response": response}
    if result.tool_call_id and not _is_synthetic(result.tool_call_id):
        wire["id"] = result.tool_call_id
    return wire


async def _parts(
    provider: str,
    message: content_pb2.Message,
    call_names: dict[str, str],
    fetcher: MediaFetcher,
) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    signature = ""
    for part in message.parts:
        kind = part.WhichOneof("kind")
        wire: dict[str, Any]
        if kind == "reasoning":
            if origin.foreign(part.reasoning, origin.GEMINI):
                signature = FOREIGN_SIGNATURE if part.reasoning.signature else signature
            else:
                signature = part.reasoning.signature or signature
            continue
        if kind == "text":
            wire = {"text": part.text}
        elif kind == "refusal":
            wire = {"text": part.refusal}  # Gemini has no refusal part: what the model said is text
        elif kind == "media":
            wire = await _media_part(provider, part.media, fetcher)
        elif kind == "tool_call":
            call_names[part.tool_call.id] = part.tool_call.name
            wire = {"functionCall": _function_call(provider, part.tool_call)}
        elif kind == "tool_result":
            wire = {"functionResponse": _function_response(provider, part.tool_result, call_names)}
        else:
            continue
        if signature and (signature != FOREIGN_SIGNATURE or "functionCall" in wire):
            wire["thoughtSignature"] = signature
        signature = ""
        parts.append(wire)
    return parts


async def _contents(
    provider: str, request: AnyRequest, fetcher: MediaFetcher
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(contents, system instruction parts). Consecutive turns of one role are merged: Gemini
    wants every function response of a turn in the one content that follows the calls."""
    contents: list[dict[str, Any]] = []
    system: list[dict[str, Any]] = []
    call_names: dict[str, str] = {}
    for message in request.messages:
        if message.role in _SYSTEM_ROLES:
            system.extend({"text": part.text} for part in message.parts if part.WhichOneof("kind") == "text")
            if any(part.WhichOneof("kind") != "text" for part in message.parts):
                raise unsupported_capability(provider, "non-text parts in system messages")
            continue
        role = "model" if message.role == content_pb2.ROLE_ASSISTANT else "user"
        parts = await _parts(provider, message, call_names, fetcher)
        if parts:
            append_turn(contents, role, "parts", parts)
    return contents, system


def _generation_config(provider: str, config: chat_pb2.GenerationConfig) -> dict[str, Any]:
    wire = generation_fields(
        config,
        {
            "max_output_tokens": "maxOutputTokens",
            "temperature": "temperature",
            "top_p": "topP",
            "top_k": "topK",
        },
    )
    if config.stop_sequences:
        if len(config.stop_sequences) > _MAX_STOP_SEQUENCES:
            raise unsupported_capability(provider, f"more than {_MAX_STOP_SEQUENCES} stop sequences")
        wire["stopSequences"] = list(config.stop_sequences)
    if config.HasField("seed"):
        if not -_INT32_MAX - 1 <= config.seed <= _INT32_MAX:
            raise unsupported_capability(provider, "seeds outside the 32-bit integer range")
        wire["seed"] = config.seed
    wire.update(
        generation_fields(
            config, {"presence_penalty": "presencePenalty", "frequency_penalty": "frequencyPenalty"}
        )
    )
    if config.HasField("response_json_schema"):
        wire["responseMimeType"] = "application/json"
        wire["responseJsonSchema"] = struct_to_dict(config.response_json_schema)
    if config.response_json_object:
        wire["responseMimeType"] = "application/json"  # JSON mode without a schema
    return wire


def _thinking_config(request: AnyRequest, model: str) -> dict[str, Any]:
    ask = requested_reasoning(request)
    if ask is None:
        return {}
    if ask.off:
        return {"thinkingBudget": 0} if support.reasons(model, None) else {}
    config: dict[str, Any] = {}
    if ask.budget_tokens is not None:
        config["thinkingBudget"] = ask.budget_tokens
    elif ask.effort is not None:
        if support.gemini_levels(model):
            config["thinkingLevel"] = _LEVELS[ask.effort]
        else:
            config["thinkingBudget"] = budget_for(ask)
    if ask.include_thoughts:
        config["includeThoughts"] = True
    return config


def _tools(request: AnyRequest) -> dict[str, Any]:
    if not request.tools:
        return {}
    declarations = []
    for tool in request.tools:
        declaration: dict[str, Any] = {"name": tool.name}
        if tool.description:
            declaration["description"] = tool.description
        if tool.HasField("parameters") and tool.parameters.fields:
            declaration["parametersJsonSchema"] = struct_to_dict(tool.parameters)
        declarations.append(declaration)
    body: dict[str, Any] = {"tools": [{"functionDeclarations": declarations}]}
    choice = request.tool_choice
    if choice.mode in _TOOL_MODES:
        calling: dict[str, Any] = {"mode": _TOOL_MODES[choice.mode]}
        if choice.mode == content_pb2.ToolChoice.MODE_TOOL:
            calling["allowedFunctionNames"] = [choice.tool_name]
        body["toolConfig"] = {"functionCallingConfig": calling}
    return body


async def build_body(provider: str, request: AnyRequest, fetcher: MediaFetcher, model: str) -> dict[str, Any]:
    """The JSON body for `generateContent` / `streamGenerateContent` (the model is in the URL).
    Raises UNSUPPORTED_CAPABILITY for anything Gemini cannot take, rather than dropping it."""
    if request.tool_choice.disable_parallel_tool_calls:
        raise unsupported_capability(provider, "limiting a turn to one tool call")
    refuse_strict_tools(provider, request.tools)
    contents, system = await _contents(provider, request, fetcher)
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    body.update(_tools(request))
    generation = _generation_config(provider, request.generation_config)
    thinking = _thinking_config(request, model)
    if thinking:
        generation["thinkingConfig"] = thinking
    if generation:
        body["generationConfig"] = generation
    return body
